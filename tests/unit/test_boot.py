"""Which boot this is, and since when: a container's reboot (a new PID 1 on the same kernel)
is a new boot too (system/boot.py)."""

from vrmonitor.system.boot import CLOCK_TICKS, boot_key, init_start_ticks, read_boot_id, since_boot


def fake_proc(tmp_path, start_ticks: int):
    (tmp_path / "1").mkdir(exist_ok=True)
    fields = ["S", "0", "1", "1"] + ["0"] * 15 + [str(start_ticks)] + ["0"] * 10
    (tmp_path / "1/stat").write_text(f"1 (systemd) {' '.join(fields)}\n")
    return str(tmp_path)


def test_a_new_pid_1_on_the_same_kernel_is_a_new_boot(tmp_path):
    proc = fake_proc(tmp_path, 4000)
    first = boot_key(proc)
    assert first == f"{read_boot_id()}/4000" and init_start_ticks(proc) == 4000
    assert boot_key(fake_proc(tmp_path, 4000)) == first  # a daemon restart: the same boot
    assert boot_key(fake_proc(tmp_path, 9000)) != first  # the container rebooted


def test_since_boot_counts_from_pid_1s_start(tmp_path):
    proc = fake_proc(tmp_path, 50 * CLOCK_TICKS)
    assert since_boot(80.0, proc) == 30.0
    assert since_boot(80.0, str(tmp_path / "nowhere")) == 80.0  # unreadable: the kernel's boot


def test_this_machines_pid_1():
    assert init_start_ticks() >= 0 and boot_key().startswith(read_boot_id() + "/")
