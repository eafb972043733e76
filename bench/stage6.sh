#!/usr/bin/env bash
# Stage 6 (one thread, epoll) against Stage 5 (a thread per client) and limit_echo (the C epoll
# echo server in bench/limit_echo.c), on this machine, in one run:
#
#   1. IDLE_CLIENTS idle connections to each stage: the server's threads and resident memory
#      (VmRSS) before and after, then one line from every connection, each of which must be
#      answered.
#   2. Request/reply throughput with `Client load`, no work delay, 10 and 100 clients: limit_echo,
#      Stage 6 and Stage 5 one after another in each round, so all three see the same machine.
#
#   bench/stage6.sh [IDLE_CLIENTS] [MESSAGES_PER_RUN] [ROUNDS]
#   SCRATCH=.build-stage6 bench/stage6.sh 10000 200000 3
#
# Ten thousand connections need ten thousand descriptors in the server and as many in the
# client. The soft limit is raised here, for this script and what it starts, up to the hard
# limit; the servers themselves never touch it. SCRATCH names the build folder (default .build).
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-10000}
messages=${2:-200000}
rounds=${3:-3}
scratch=${SCRATCH:-.build}

ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((idle + 64)) ]; then
    echo "$idle idle clients need $((idle + 64)) descriptors; the hard limit is $(ulimit -Hn)" >&2
    exit 1
fi

# bench/lib.sh builds bench/build/limit_echo, makes `work` (a temporary folder) with a clean-up
# on exit that ends every server started, and defines start(), which launches a server on port 0
# and sets `port`.
# shellcheck source=bench/lib.sh
. bench/lib.sh
for product in Stage5Shutdown Stage6EventLoop Client; do
    swift build -c release --scratch-path "$scratch" --product "$product" >/dev/null
done
bin=$scratch/release

echo "## $idle idle connections"
echo
python3 - "$bin" "$idle" <<'PYTHON'
import selectors, signal, socket, subprocess, sys, threading, time

bin, count = sys.argv[1], int(sys.argv[2])

def status(pid):
    """Threads and resident KiB, from /proc/PID/status."""
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0])

def settled(pid, seconds=1.0):
    """Status once the thread count has not changed for `seconds` (threads start after their
    `connected` line), and memory has had the same time to settle."""
    last, since = status(pid), time.monotonic()
    while time.monotonic() - since < seconds:
        time.sleep(0.1)
        now = status(pid)
        if now[0] != last[0]:
            since = time.monotonic()
        last = now
    return last

print("| Server | threads, empty | RSS empty | threads, idle | RSS idle | per idle connection | answered after |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for stage in ["Stage5Shutdown", "Stage6EventLoop"]:
    server = subprocess.Popen(
        [f"{bin}/{stage}", "--port", "0", "--max-clients", str(count), "--idle-timeout", "3600"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(server.stdout.readline().rsplit(":", 1)[1])
    connected = threading.Semaphore(0)

    def drain():
        # The log must be read, or the server blocks writing it once the pipe is full.
        for line in server.stdout:
            if "] connected from " in line:
                connected.release()
    threading.Thread(target=drain, daemon=True).start()

    threads_empty, rss_empty = settled(server.pid)
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    for _ in range(count):
        if not connected.acquire(timeout=120):
            sys.exit(f"{stage}: not every client was logged as connected")
    threads_idle, rss_idle = settled(server.pid)

    # Then every connection sends one line, and every one must be answered.
    selector = selectors.DefaultSelector()
    pending = {}
    for number, client in enumerate(clients):
        client.sendall(b"still there %d\n" % number)
        client.setblocking(False)
        selector.register(client, selectors.EVENT_READ, number)
        pending[number] = b""
    answered, deadline = 0, time.monotonic() + 120
    while pending and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1):
            number = key.data
            data = key.fileobj.recv(4096)
            pending[number] += data
            if pending[number].endswith(b"\n") or not data:
                if pending[number] == b"Received: still there %d\n" % number:
                    answered += 1
                selector.unregister(key.fileobj)
                del pending[number]
    for client in clients:
        client.close()
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)

    per_connection = (rss_idle - rss_empty) * 1024 / count
    print(f"| {stage} | {threads_empty} | {rss_empty} KiB | {threads_idle} | {rss_idle} KiB "
          f"| {per_connection:,.0f} bytes | {answered:,} of {count:,} |")
PYTHON

# start() writes each server's log to $work/NAME.out; the stages' logs are read again at the end.
start bench/build/limit_echo 0
c_port=$port
c_pid=${pids[-1]}
start "$bin/Stage6EventLoop" --port 0 --max-clients 200
six_port=$port
six_pid=${pids[-1]}
start "$bin/Stage5Shutdown" --port 0 --max-clients 200
five_port=$port
five_pid=${pids[-1]}

# User and system CPU time a process has used so far, in clock ticks (1/100 s): fields 14 and 15
# of /proc/PID/stat (the command name, field 2, has no spaces here).
cpu() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
declare -A cpu_before
for pid in "$c_pid" "$six_pid" "$five_pid"; do cpu_before[$pid]=$(cpu "$pid"); done

# messages/s from the summary of one `Client load` run; a run that did not complete says why.
rate() {
    local summary
    summary=$("$bin/Client" load --port "$1" --clients "$2" --messages $((messages / $2)) \
        2>/dev/null) || true
    if grep -q '^first error' <<<"$summary"; then
        echo "failed: $(sed -n 's/^first error *//p' <<<"$summary")"
    else
        sed -n 's/^messages\/s *//p' <<<"$summary"
    fi
}
ratio() { awk -v s="$1" -v c="$2" 'BEGIN { if (s + 0 > 0 && c + 0 > 0) printf "%.2f", s / c; else printf "n/a" }'; }
echo
echo "## Throughput, $messages messages per run, no work delay"
echo
echo "| round | clients | C limit_echo msg/s | Stage 6 msg/s | Stage 6 / C | Stage 5 msg/s | Stage 5 / C |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for round in $(seq "$rounds"); do
    for clients in 10 100; do
        c=$(rate "$c_port" "$clients")
        six=$(rate "$six_port" "$clients")
        five=$(rate "$five_port" "$clients")
        echo "| $round | $clients | $c | $six | $(ratio "$six" "$c") | $five | $(ratio "$five" "$c") |"
    done
done
echo
runs=$((rounds * 2))
echo "Server CPU over all $runs runs ($((runs * messages)) messages each server), in clock ticks (1/100 s):"
echo
echo "| Server | user | system | µs per message |"
echo "| --- | ---: | ---: | ---: |"
for entry in "limit_echo:$c_pid" "Stage6EventLoop:$six_pid" "Stage5Shutdown:$five_pid"; do
    name=${entry%%:*}
    pid=${entry##*:}
    read -r user0 system0 <<<"${cpu_before[$pid]}"
    read -r user1 system1 <<<"$(cpu "$pid")"
    user=$((user1 - user0))
    system=$((system1 - system0))
    echo "| $name | $user | $system |" \
        "$(awk -v t=$((user + system)) -v m=$((runs * messages)) 'BEGIN { printf "%.1f", t * 10000 / m }') |"
done
echo
# Anything a stage logged besides connections and messages (a timeout, a client cut off).
for log in "$work"/Stage*.out; do
    grep -vE '^listening on|\] connected from|\] disconnected$|\] \[(low|normal|urgent)\] ' "$log" |
        sed "s|^|$(basename "$log" .out): |" | head -5 || true
done
echo "$(nproc) cores, $(uptime | sed 's/.*load average/load average/'), $(date -u +%Y-%m-%d), $(swift --version 2>&1 | head -1)"
