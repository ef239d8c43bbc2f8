#!/usr/bin/env python3
"""Supervision cost: nucleus-exec vs conmon / podman healthcheck run.

Measures, per container:
  * memory: summed Pss (/proc/PID/smaps_rollup) of nucleus-exec's own
    processes (supervisor + in-namespace init, not the workload) vs conmon's,
    next to the floor of any Go supervisor (bench/floor/idle);
  * CPU per health check: utime+stime (+ reaped children's, i.e. the exec
    probe processes init forks) of supervisor + init over N checks, counted
    exactly as N WATCHDOG=1 datagrams on a NOTIFY_SOCKET this script listens
    on, vs the CPU (RUSAGE_CHILDREN) of one `podman healthcheck run`.

Run as root from the repository root: bench/supervision/run.py [N]
The podman half runs in a private mount namespace without the cgroup2
mount (crun refuses this machine's hybrid cgroups); nothing on the host
changes. See bench/README.md, "Supervision".
"""
import json, os, resource, shutil, socket, subprocess, sys, tempfile, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TICK = os.sysconf("SC_CLK_TCK")


def pss_kb(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError(f"no Pss for {pid}")


def cpu_ticks(pid):
    """utime+stime+cutime+cstime of pid, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15])


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except OSError:
                pass
    return out


def nucleus(kind, probe_toml):
    exe = os.path.join(REPO, "bin", "nucleus-exec")
    work = tempfile.mkdtemp(prefix="nucleus-bench.", dir="/run")
    spec = os.path.join(work, "bench.toml")
    with open(spec, "w") as f:
        f.write(f"""
[exec]
command = ["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "8080"]

[readiness]
tcp = 8080

[health]
{probe_toml}
interval = "20ms"
timeout = "2s"
""")
    sock_path = os.path.join(work, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path)
    proc = subprocess.Popen([exe, "run", spec], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        checks = 0

        def wait_checks(n):
            nonlocal checks
            while n > 0:
                sock.settimeout(60)
                msg = sock.recv(4096).decode()
                if "STATUS=failing" in msg or "STATUS=unhealthy" in msg:
                    raise RuntimeError(f"{kind} probe fails: {msg!r}")
                if "WATCHDOG=1" in msg.split("\n"):
                    checks += 1
                    n -= 1

        wait_checks(20)  # warm up: the server is up, the loop steady
        (init,) = children(proc.pid)
        pids = [proc.pid, init]
        before = sum(cpu_ticks(p) for p in pids)
        t0 = time.monotonic()
        wait_checks(N)
        wall = time.monotonic() - t0
        after = sum(cpu_ticks(p) for p in pids)
        pss = {p: pss_kb(p) for p in pids}
        return {
            "name": f"nucleus-exec, {kind} probe",
            "pss_kb": sum(pss.values()),
            "pss_detail": f"supervisor {pss[proc.pid]} kB + init {pss[init]} kB",
            "cpu_ms_per_check": (after - before) * 1000 / TICK / N,
            "wall_ms_per_check": wall * 1000 / N,
        }
    finally:
        proc.terminate()
        proc.wait()
        sock.close()
        shutil.rmtree(work, ignore_errors=True)


def pss_many(k):
    """Per-container PSS with k containers running at once: nucleus-exec's
    text pages are shared by all of them (conmon's by all conmons)."""
    exe = os.path.join(REPO, "bin", "nucleus-exec")
    work = tempfile.mkdtemp(prefix="nucleus-bench.", dir="/run")
    procs, socks = [], []
    try:
        for i in range(k):
            spec = os.path.join(work, f"c{i}.toml")
            with open(spec, "w") as f:
                f.write('[exec]\ncommand = ["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "8080"]\n'
                        '[readiness]\ntcp = 8080\n[health]\ntcp = 8080\ninterval = "1s"\n')
            sp = os.path.join(work, f"n{i}")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(sp)
            sock.settimeout(60)
            socks.append(sock)
            procs.append(subprocess.Popen([exe, "run", spec], env=dict(os.environ, NOTIFY_SOCKET=sp),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for sock in socks:
            while "READY=1" not in sock.recv(4096).decode().split("\n"):
                pass
        time.sleep(3)
        total = 0
        for p in procs:
            (init,) = children(p.pid)
            total += pss_kb(p.pid) + pss_kb(init)
        return total // k
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        for sock in socks:
            sock.close()
        shutil.rmtree(work, ignore_errors=True)


def go_floor():
    """The memory floor of any resident Go supervisor: bench/floor/idle, a Go
    program that only waits for SIGTERM, built like nucleus-exec."""
    work = tempfile.mkdtemp(prefix="nucleus-bench-floor.")
    exe = os.path.join(work, "idle")
    env = dict(os.environ, CGO_ENABLED="0")
    subprocess.run(["go", "build", "-trimpath", "-o", exe, "./bench/floor/idle"], cwd=REPO, env=env, check=True)
    p = subprocess.Popen([exe])
    try:
        time.sleep(1)
        return {
            "name": "floor: a Go program that only waits for a signal (bench/floor/idle)",
            "pss_kb": pss_kb(p.pid),
            "pss_detail": "one Go runtime, no work",
            "cpu_ms_per_check": 0,
            "wall_ms_per_check": 0,
            "reference": True,
        }
    finally:
        p.terminate()
        p.wait()
        shutil.rmtree(work, ignore_errors=True)


def podman():
    root = tempfile.mkdtemp(prefix="nucleus-bench-rootfs.")
    os.makedirs(os.path.join(root, "bin"))
    shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
    for c in ("sh", "sleep", "true"):
        os.symlink("busybox", os.path.join(root, "bin", c))
    name = f"nucleus-bench-{os.getpid()}"
    run = ["podman", "run", "-d", "--name", name, "--cgroups=disabled",
           "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096",
           "--health-cmd", "/bin/true", "--rootfs", root, "sleep", "600"]
    subprocess.run(run, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conmon = int(subprocess.check_output(["podman", "inspect", "--format", "{{.State.ConmonPid}}", name]))
        for _ in range(3):  # warm up caches
            subprocess.run(["podman", "healthcheck", "run", name], check=True)
        n = max(N // 10, 10)  # each run takes ~100 ms of CPU; fewer suffice
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        for _ in range(n):
            subprocess.run(["podman", "healthcheck", "run", name], check=True)
        wall = time.monotonic() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
        return {
            "name": "podman 4.3.1: conmon + `podman healthcheck run` (exec /bin/true)",
            "pss_kb": pss_kb(conmon),
            "pss_detail": "conmon",
            "cpu_ms_per_check": cpu * 1000 / n,
            "wall_ms_per_check": wall * 1000 / n,
        }
    finally:
        subprocess.run(["podman", "rm", "-f", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)


def main():
    if os.geteuid() != 0:
        sys.exit("run as root")
    if not os.environ.get("NUCLEUS_BENCH_NS") and os.path.ismount("/sys/fs/cgroup/unified"):
        os.environ["NUCLEUS_BENCH_NS"] = "1"
        os.execvp("unshare", ["unshare", "-m", "--propagation", "private", "sh", "-c",
                              'umount /sys/fs/cgroup/unified && exec "$0" "$@"', sys.executable] + sys.argv)
    subprocess.run(["make", "-C", REPO, "build"], check=True, stdout=subprocess.DEVNULL)
    rows = []
    for kind, probe in (("tcp", "tcp = 8080"), ("http", 'http = "http://127.0.0.1:8080/etc/hostname"'),
                        ("exec", 'exec = ["/bin/true"]')):
        try:
            rows.append(nucleus(kind, probe))
        except Exception as e:  # report the row, measure the others
            print(f"nucleus-exec, {kind} probe: not measured: {e}", file=sys.stderr)
    rows.append(go_floor())
    rows.append(podman())
    pod = rows[-1]
    many = pss_many(8)
    if os.environ.get("OUT"):  # make bench: the same figures, machine-readable, for bench/report
        os.makedirs(os.environ["OUT"], exist_ok=True)
        with open(os.path.join(os.environ["OUT"], "supervision.json"), "w") as f:
            json.dump({"rows": rows, "pss_kb_per_container_of_8": many}, f, indent=1)
    print(f"N = {N} checks per nucleus row, {max(N // 10, 10)} podman healthcheck runs; {os.cpu_count()} CPUs\n")
    print("| supervisor | PSS (kB) | vs conmon | CPU per check (ms) | vs podman healthcheck run |")
    print("|---|---|---|---|---|")
    for r in rows:
        cpu = "—"
        if r["cpu_ms_per_check"]:
            cpu = f"{r['cpu_ms_per_check']:.3f} | 1/{pod['cpu_ms_per_check'] / r['cpu_ms_per_check']:.0f}"
        print(f"| {r['name']} | {r['pss_kb']} ({r['pss_detail']}) | {r['pss_kb'] / pod['pss_kb']:.2f}× | {cpu} |")
    print(f"\nWith 8 nucleus-exec containers running at once (tcp health probe): {many} kB PSS per container "
          f"({many / pod['pss_kb']:.2f}× one conmon).")


if __name__ == "__main__":
    main()

