"""The kernel workload on SimPy 3: N processes each looping L times on a uniform random
integer timeout in [1, 1000]. Prints one JSON line: {"events": N*L, "median_s": ..., "simpy": ver}.

Run with Debian's system interpreter (/usr/bin/python3) and `apt-get install python3-simpy3`.
Usage: simpy_bench.py PROCESSES LOOPS SEED REPEAT
"""

import json
import random
import sys
import time

import simpy


def worker(env, loops, rnd):
    timeout = env.timeout
    for _ in range(loops):
        yield timeout(int(rnd() * 1000) + 1)


def once(processes, loops, seed):
    env = simpy.Environment()
    rnd = random.Random(seed).random
    for _ in range(processes):
        env.process(worker(env, loops, rnd))
    t0 = time.perf_counter()
    env.run()
    return time.perf_counter() - t0


def main():
    processes, loops, seed, repeat = (int(a) for a in sys.argv[1:5])
    samples = sorted(once(processes, loops, seed) for _ in range(repeat))
    print(json.dumps({
        "events": processes * loops,
        "median_s": samples[len(samples) // 2],
        "simpy": getattr(simpy, "__version__", "?"),
    }))


if __name__ == "__main__":
    main()
