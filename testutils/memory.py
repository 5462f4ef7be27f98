"""Memory of process trees from /proc: the soak, the pipeline bench and the abuse tests measure
the web tier and the worker cluster with it."""

from pathlib import Path


def process_children() -> dict[int, list[int]]:
    """Every process's children, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    return children


def tree_sum_kb(roots: list[int], file: str, field: str) -> int:
    """`field` (in kB) of /proc/PID/`file`, summed over the processes under `roots` and themselves."""
    children, total, todo = process_children(), 0, list(roots)
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
                if line.startswith(field):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def pss_mb(root_pid: int) -> float:
    """Proportional set size of a process and all its descendants, in MB."""
    return tree_sum_kb([root_pid], "smaps_rollup", "Pss:") / 1024


def tree_rss_mb(roots: list[int]) -> float:
    """Resident memory of the processes under `roots` (and themselves), in MB (each process's
    own count: what a growing worker shows first)."""
    return tree_sum_kb(roots, "status", "VmRSS:") / 1024


def tree_pss_mb(roots: list[int]) -> float:
    """Proportional memory of the processes under `roots` (and themselves), in MB: pages shared
    between them (the worker cluster's forked processes) are counted once."""
    return tree_sum_kb(roots, "smaps_rollup", "Pss:") / 1024
