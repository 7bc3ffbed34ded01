"""The kernel workload on SimPy 3: N processes each looping L times on a uniform random
integer timeout in [1, 1000]. Prints one JSON line per repetition:
{"timeouts": <counted>, "seconds": ..., "cpu_seconds": ..., "simpy": ver}; the caller checks the
count is N*L. cpu_seconds is this process's CPU time over the same span (time.process_time).

Run with Debian's system interpreter (/usr/bin/python3) and `apt-get install python3-simpy3`.
Usage: simpy_bench.py PROCESSES LOOPS SEED REPEAT
"""

import json
import random
import sys
import time

import simpy


def worker(env, loops, rnd, done):
    timeout = env.timeout
    for _ in range(loops):
        yield timeout(int(rnd() * 1000) + 1)
    done[0] += loops


def once(processes, loops, seed):
    env = simpy.Environment()
    rnd = random.Random(seed).random
    done = [0]
    for _ in range(processes):
        env.process(worker(env, loops, rnd, done))
    t0 = time.perf_counter()
    c0 = time.process_time()
    env.run()
    return time.perf_counter() - t0, time.process_time() - c0, done[0]


def main():
    processes, loops, seed, repeat = (int(a) for a in sys.argv[1:5])
    for _ in range(repeat):
        seconds, cpu_seconds, timeouts = once(processes, loops, seed)
        print(json.dumps({
            "timeouts": timeouts,
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,
            "simpy": getattr(simpy, "__version__", "?"),
        }), flush=True)


if __name__ == "__main__":
    main()
