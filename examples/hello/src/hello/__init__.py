"""A tiny package the example image carries; `python -c "import hello"` finds it through PYTHONPATH."""


def greet(name: str) -> str:
    return f"hello, {name}"
