"""A Ray cluster of one head and N worker nodes on this machine, driven over stdin/stdout.

Used by tests/test_ray_cluster.py, which runs it in its own process so that Ray's
process-wide state (its authentication token cache, the address of the last cluster) never
leaks into the test process. Each node is a real raylet with its own object store; only the
machine is shared.

    python tests/ray_cluster.py --workers 2
    -> {"address": "HOST:PORT", "nodes": [{"node_id": ..., "raylet_pid": ...}, ...]}
    stdin "kill 1"  -> the second worker node is killed at once (SIGKILL, no draining)
    stdin EOF       -> the cluster is shut down

The head offers no CPUs, so every task runs on a worker node. The nodes' token
authentication follows the environment (RAY_AUTH_MODE, RAY_AUTH_TOKEN).
"""
import argparse
import json
import sys


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ns = ap.parse_args()
    from ray.cluster_utils import Cluster
    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 0, "include_dashboard": False})
    # Nodes on one machine share a session folder; each gets its own runtime-env folder,
    # or one node's agent can replace the unpacked working_dir under another node's
    # running workers (their cwd vanishes: FileNotFoundError from os.getcwd()).
    nodes = [cluster.add_node(num_cpus=1, runtime_env_dir_name=f"runtime_resources_{i}")
             for i in range(ns.workers)]
    cluster.wait_for_nodes()
    print(json.dumps({"address": cluster.address,
                      "nodes": [{"node_id": n.node_id,
                                 "raylet_pid": n.all_processes["raylet"][0].process.pid}
                                for n in nodes]}), flush=True)
    try:
        for line in sys.stdin:
            cmd = line.split()
            if cmd[:1] == ["kill"]:
                cluster.remove_node(nodes[int(cmd[1])], allow_graceful=False)
                print(json.dumps({"killed": int(cmd[1])}), flush=True)
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
