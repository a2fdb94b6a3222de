"""Push the run-cache so that another machine restores these stage runs: its entries and every output they name.

    python -m ci.push_run_cache [REMOTE]    # after `dvc push`; REMOTE: the default remote when left out

`dvc push --run-cache` (DVC 3) sends the entries (.dvc/cache/runs) but not the outputs they name
that the workspace's dvc.lock does not: the `cache: false` metrics and plots, which only the run-cache
keeps in the cache, and any run since superseded. Another machine then finds the entry, cannot check
those outputs out, and runs the stage again; with them on the remote, `dvc repro --pull` restores it.
Outputs missing from this machine's cache too (entries pulled from the remote without them) are
skipped: there is nothing to send.
"""

import sys

from dvc.exceptions import CollectCacheError
from dvc.repo import Repo


def push(remote=None):
    """(entries sent, objects sent, objects that failed)."""
    with Repo() as repo:
        entries = repo.stage_cache.push(remote)
        named = set()
        for entry in entries:
            try:
                used = repo.stage_cache.get_used_objs([entry])
            except CollectCacheError:  # a directory output whose listing this cache lacks: not ours to send
                continue
            named.update(*used.values())
        local = [obj for obj in named if repo.cache.local.exists(obj.value)]
        result = repo.cloud.push(local, remote=remote)
    return len(entries), len(result.transferred), len(result.failed)


def main(argv):
    if len(argv) > 1:
        sys.exit(__doc__)
    entries, sent, failed = push(argv[0] if argv else None)
    print(f"run-cache: {entries} entries, {sent} of their outputs sent")
    if failed:
        sys.exit(f"error: {failed} of the run-cache's outputs failed to upload")


if __name__ == "__main__":
    main(sys.argv[1:])
