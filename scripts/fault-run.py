#!/usr/bin/env python3
"""Bad-input and fault run (issue 17): what an attacker inside the cluster tries, and what
prescale answers. Starts the given binary on 127.0.0.1:18571 with a tokens file, --max-series
5000 and --max-targets 1000, and prints one table row per attempt.

Usage: scripts/fault-run.py PATH/TO/prescale   (raise `ulimit -n` above 3,100 first)
"""
import json, os, socket, subprocess, sys, tempfile, time, urllib.request, urllib.error

BIN = sys.argv[1]
d = tempfile.mkdtemp()
tok = os.path.join(d, "tokens")
open(tok, "w").write("admin-0123456789abcdef admin\nwriter-0123456789abcdef write\nreader-0123456789abcdef read\n")
port = 18571
p = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", os.path.join(d, "data"),
                      "--no-tls", "--auth-tokens-file", tok, "--max-series", "5000", "--max-targets", "1000"],
                     stderr=subprocess.DEVNULL)
base = f"http://127.0.0.1:{port}"
for _ in range(100):
    try:
        urllib.request.urlopen(base + "/healthz"); break
    except Exception:
        time.sleep(0.1)

def call(method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method, data=body.encode() if body else None)
    req.add_header("content-type", "application/json")
    if token: req.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

def rss():
    for line in open(f"/proc/{p.pid}/status"):
        if line.startswith("VmRSS"): return int(line.split()[1]) // 1024
now = int(time.time())
rows = []
t = '{"series":"web","capacity_per_replica":10,"max_replicas":10,"lead_time":"1m"}'
rows.append(("PUT target, no token", call("PUT", "/api/v1/targets/t1", t)[0]))
rows.append(("PUT target, read token", call("PUT", "/api/v1/targets/t1", t, "reader-0123456789abcdef")[0]))
rows.append(("PUT target, write token", call("PUT", "/api/v1/targets/t1", t, "writer-0123456789abcdef")[0]))
rows.append(("DELETE target, no token", call("DELETE", "/api/v1/targets/t1")[0]))
rows.append(("push 1e300, write token", call("POST", "/api/v1/series/web/samples", json.dumps({"samples":[{"timestamp":now,"value":1e300}]}), "writer-0123456789abcdef")[0]))
rows.append(("remote_write, no token", call("POST", "/api/v1/write", "x")[0]))
# series limit
W = "writer-0123456789abcdef"
codes = {}
for i in range(5100):
    c = call("POST", f"/api/v1/series/s{i}/samples", json.dumps({"samples":[{"timestamp":now-60,"value":1}]}), W)[0]
    codes[c] = codes.get(c, 0) + 1
rows.append(("5,100 one-sample series (max 5000)", codes))
tc = {}
for i in range(1100):
    c = call("PUT", f"/api/v1/targets/t{i}", t, "admin-0123456789abcdef")[0]
    tc[c] = tc.get(c, 0) + 1
rows.append(("1,100 targets (max 1000)", tc))
time.sleep(16)
rows.append(("/metrics bytes", len(call("GET", "/metrics")[1])))
rows.append(("/readyz bytes", len(call("GET", "/readyz")[1])))
# slow headers
before = rss()
socks = []
for i in range(3000):
    s = socket.socket(); s.setblocking(True)
    try:
        s.connect(("127.0.0.1", port)); s.send(b"GET / HTTP/1.1\r\n"); socks.append(s)
    except OSError as e:
        break
time.sleep(1)
during = rss()
held = 0
time.sleep(12)
for s in socks:
    s.setblocking(False)
    try:
        data = s.recv(1)
        if data == b"": pass
        else: held += 1
    except BlockingIOError:
        held += 1
    except OSError:
        pass
rows.append((f"{len(socks)} slow-header connections: still open after 13 s (server side; the rest queued or closed)", held))
st, _ = call("GET", "/healthz")
rows.append(("/healthz during the slow-header flood", st))
for s in socks: s.close()
time.sleep(2)
rows.append(("RSS MiB before / during / after the flood", (before, during, rss())))
p.terminate(); p.wait()
for r in rows: print(f"| {r[0]} | {r[1]} |")
