"""python_worker/tests/test_dist.py's check, with its two gloo ranks on two SLURM nodes (network
namespaces of their own, test/slurm/multinode.test.ts) instead of two processes on one machine:
the InfoNCE loss and gradients under DDP and whole joint / bilevel steps (negatives gathered
across ranks with gradients, DDP averaging, the head's gradients averaged by hand) on a global
batch split over the two nodes equal the single-process result on the whole batch (losses,
gradients, weights after two steps; fp32, rtol = atol = 1e-5).

  python dist_over_network.py rank OUT      one task of `srun --nodes=2 --ntasks=2`: rank
                                            SLURM_PROCID, MASTER_ADDR the job's first node
  python dist_over_network.py compare OUT   the single-process reference here, compared with
                                            what every rank saved; prints the ranks' hosts as JSON
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python_worker" / "tests"))

import torch  # noqa: E402

import test_dist as T  # noqa: E402
from projhead_worker.training import dist  # noqa: E402
from projhead_worker.training.train import _agreed_stop, _global_mean  # noqa: E402


def addresses() -> list[str]:
    """This node's non-loopback IPv4 addresses (what `hostname -I` prints)."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=True).stdout
    return [a for a in out.split() if ":" not in a]


def rank_main(out: Path) -> None:
    torch.set_num_threads(1)
    rank, world = int(os.environ["SLURM_PROCID"]), int(os.environ["SLURM_NTASKS"])
    assert world == T.WORLD, f"{world} tasks, expected {T.WORLD}"
    nodes = subprocess.run(["scontrol", "show", "hostnames", os.environ["SLURM_JOB_NODELIST"]],
                           capture_output=True, text=True, check=True).stdout.split()
    # The first node's name: it must resolve on every node to an address the others reach.
    port = 20000 + int(os.environ["SLURM_JOB_ID"]) % 20000
    os.environ.update(MASTER_ADDR=nodes[0], MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK="0")
    assert dist.init_from_env("gloo")
    try:
        x1, x2 = T.batch()
        lo, hi = rank * T.B // world, (rank + 1) * T.B // world
        res = T.compute_all(x1[lo:hi], x2[lo:hi])
        res["stop"] = [_agreed_stop(r) for r in (None, "cancel" if rank == 1 else None,
                                                  "signal" if rank == 0 else None,
                                                  "signal" if rank == 0 else "cancel")]
        res["mean"] = _global_mean({"loss": torch.tensor(float(rank)), "acc": 0.5}, torch.device("cpu"))
        res["host"] = {"hostname": socket.gethostname(), "addresses": addresses(), "master": nodes[0]}
        torch.save(res, out / f"rank{rank}.pt")
        dist.barrier()
    finally:
        dist.cleanup()


def compare_main(out: Path) -> None:
    assert not dist.is_dist()
    reference = T.compute_all(*T.batch())
    hosts = []
    for r in range(T.WORLD):
        got = torch.load(out / f"rank{r}.pt")
        hosts.append(got.pop("host"))
        assert got.pop("stop") == [None, "cancel", "signal", "signal" if r == 0 else "cancel"]
        assert got.pop("mean") == {"loss": 0.5, "acc": 0.5}
        T._close(reference, got, f"rank{r}")
    assert set(reference["bilevel"]["grads"]) == {"outer", "inner"}
    init = T.tiny_model().state_dict()
    assert not torch.equal(init["backbone.weight"], reference["joint"]["backbone.weight"])
    print(json.dumps(hosts))


if __name__ == "__main__":
    mode, out = sys.argv[1], Path(sys.argv[2])
    {"rank": rank_main, "compare": compare_main}[mode](out)
