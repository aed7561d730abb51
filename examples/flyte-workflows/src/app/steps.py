"""The Python side of the example's pythonTask declarations (workflows.ts).

pyflyte-execute imports this module (app.steps) from the image, takes the named attribute and calls
its dispatch_execute, so each one is a flytekit task whose input names and types are the declared
ones. A plain return value is output o0; `stats` returns a NamedTuple, whose field names are its
declared outputs (namedOutputs: true in the declaration).
"""

from typing import List, NamedTuple

from flytekit import task


@task
def square(n: int) -> int:
    return n * n


@task
def total(values: List[int]) -> int:
    return sum(values)


Stats = NamedTuple("Stats", [("count", int), ("mean", float)])


@task
def stats(values: List[int]) -> Stats:
    return Stats(count=len(values), mean=sum(values) / len(values) if values else 0.0)
