"""Tasks: question/answer files, their scoring, the BIG-bench dev set and the benchmark
that runs contenders on them (`islands bench tasks`). At the flows layer: it uses the
engine and flows, never the CLI or the server.

    from islands.tasks import fetch, load_tasks, bench_tasks
    fetch()                                    # once: the 17 dev-set families as JSONL
    tasks = load_tasks("arithmetic,navigate")  # or a path to your own .jsonl
    result = bench_tasks(engine, tasks, n=25)  # bare few-shot, bare log-likelihood, islands
"""

from islands.tasks.bench import bench_tasks
from islands.tasks.bigbench import FAMILIES, FetchError, FetchResult, default_data_dir, fetch, load_tasks
from islands.tasks.data import (
    Example,
    Format,
    Task,
    exact_match,
    extract,
    load_task,
    matching_choice,
    normalize,
    read_examples,
    write_task,
)

__all__ = [
    "FAMILIES",
    "Example",
    "FetchError",
    "FetchResult",
    "Format",
    "Task",
    "bench_tasks",
    "default_data_dir",
    "exact_match",
    "extract",
    "fetch",
    "load_task",
    "load_tasks",
    "matching_choice",
    "normalize",
    "read_examples",
    "write_task",
]
