#!/usr/bin/env python3
"""A remote reward server in the OpenRLHF protocol, standard library only: reward 1 when the completion's last number
equals the label, else 0.  python3 samples/arithmetic/reward_server.py 5000
then: pipeline train --config samples/arithmetic/arithmetic.conf --set rewards=remote --set 'rewards.remote.url="http://127.0.0.1:5000/get_reward"'
"""
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def score(completion, label):
    numbers = NUMBER.findall(completion.replace(",", ""))
    return 1.0 if numbers and label and float(numbers[-1]) == float(label) else 0.0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        # OpenRLHF sends "query" (prompt + completion), "prompts" and "labels"; Pipeline adds "completions" and "metadata".
        completions = body.get("completions") or [q[len(p):] for q, p in zip(body["query"], body["prompts"])]
        rewards = [score(c, l) for c, l in zip(completions, body["labels"])]
        reply = json.dumps({"rewards": rewards}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
