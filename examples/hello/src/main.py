from hello import greet

if __name__ == "__main__":
    print(greet("imagespec"))
