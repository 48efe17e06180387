"""The srun + torchrun launch of the slurm runtime's workers (the argv; the real launch runs in
test/slurm on a real cluster)."""
from projhead_worker.server import slurm_launch


def test_command_one_task_per_node_and_a_c10d_rendezvous_here():
    cmd = slurm_launch.command("/py", 3, 2, ["-m", "projhead_worker.training.trainproc", "--run-dir", "/r/x"], "x")
    assert cmd[0] == "srun"
    assert "--nodes=3" in cmd and "--ntasks=3" in cmd and "--ntasks-per-node=1" in cmd
    i = cmd.index("torch.distributed.run")
    assert cmd[i - 2:i] == ["/py", "-m"]
    assert "--nnodes=3" in cmd and "--nproc-per-node=2" in cmd and "--rdzv-backend=c10d" in cmd
    assert any(a.startswith("--rdzv-endpoint=") and a.rsplit(":", 1)[1].isdigit() for a in cmd)
    assert cmd[-4:] == ["-m", "projhead_worker.training.trainproc", "--run-dir", "/r/x"]


def test_enabled_only_inside_a_slurm_job(monkeypatch):
    monkeypatch.setenv("PROJHEAD_LAUNCH", "srun")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert not slurm_launch.enabled()
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    assert slurm_launch.enabled()


def test_rendezvous_at_the_address_the_job_script_gives(monkeypatch):
    monkeypatch.setenv("PROJHEAD_RDZV_HOST", "10.9.8.7")
    cmd = slurm_launch.command("/py", 2, 1, ["-m", "projhead_worker.training.trainproc"], "x")
    endpoint = next(a for a in cmd if a.startswith("--rdzv-endpoint="))
    assert endpoint.split("=", 1)[1].rsplit(":", 1)[0] == "10.9.8.7"
    monkeypatch.delenv("PROJHEAD_RDZV_HOST")
    cmd = slurm_launch.command("/py", 2, 1, ["-m", "projhead_worker.training.trainproc"], "x")
    assert next(a for a in cmd if a.startswith("--rdzv-endpoint=")).split("=", 1)[1].startswith(slurm_launch.socket.gethostname() + ":")
