"""Holds `pipeline model logits` against transformers on the same folders, for deploy/gpu-check/run.sh.

    python3 compare.py --pipeline "DOTNET APP/pipeline.dll" --out RESULT.json FOLDER [FOLDER ...]
        [--devices cuda cpu] [--dtypes float32 bfloat16] [--length 24] [--greedy 16]

For each folder, device and dtype: the logits of one fixed id sequence (max abs diff against the tolerance: 1e-4 in
float32, 2e-2 in bfloat16) and a greedy continuation (transformers: full forward per step, no cache; pipeline: its KV
cache). Also loads each folder's tokenizer with AutoTokenizer when the folder has one. Exit code 0 when every
comparison that ran passed, 1 otherwise; RESULT.json lists each comparison with its figures or its error.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

TOLERANCE = {"float32": 1e-4, "bfloat16": 2e-2}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def prompt_ids(config, length, seed):
    g = torch.Generator().manual_seed(seed)
    bos = config.bos_token_id if isinstance(config.bos_token_id, int) else 1
    # Ids from the first 1000 (or the whole vocabulary), after BOS: the same for both sides.
    ids = torch.randint(3, min(config.vocab_size, 1000), (length - 1,), generator=g).tolist()
    return [bos] + ids


def hf_side(folder, device, dtype, ids, greedy):
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=DTYPES[dtype]).to(device).eval()
    with torch.no_grad():
        x = torch.tensor([ids], device=device)
        logits = model(x).logits[0].float().cpu()
        out = list(ids)
        for _ in range(greedy):
            step = model(torch.tensor([out], device=device)).logits[0, -1]
            out.append(int(torch.argmax(step).item()))
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return logits, out[len(ids):]


def pipeline_side(pipeline, folder, device, dtype, ids, greedy, workdir):
    out = os.path.join(workdir, f"{os.path.basename(folder.rstrip('/'))}.{device.replace(':', '')}.{dtype}.json")
    cmd = shlex.split(pipeline) + ["model", "logits", "--model", folder, "--prompt-ids", " ".join(map(str, ids)),
                                   "--device", device, "--dtype", dtype, "--greedy", str(greedy), "--out", out]
    started = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"pipeline model logits exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-1500:]}")
    with open(out) as f:
        data = json.load(f)
    return torch.tensor(data["logits"]), data["greedy_ids"], time.time() - started


def compare(args, folder, device, dtype, workdir):
    from transformers import AutoConfig
    config = AutoConfig.from_pretrained(folder)
    ids = prompt_ids(config, args.length, args.seed)
    row = dict(folder=os.path.basename(folder.rstrip("/")), model_type=config.model_type, device=device, dtype=dtype,
               tolerance=TOLERANCE[dtype], prompt_ids=ids)
    try:
        ref_logits, ref_greedy = hf_side(folder, device, dtype, ids, args.greedy)
        logits, greedy, seconds = pipeline_side(args.pipeline, folder, device, dtype, ids, args.greedy, workdir)
        diff = (ref_logits - logits).abs().max().item() if ref_logits.shape == logits.shape else float("inf")
        row.update(max_abs_diff=diff, logits_shape=list(logits.shape), greedy_hf=ref_greedy, greedy_pipeline=greedy,
                   greedy_equal=ref_greedy == greedy, pipeline_seconds=round(seconds, 2),
                   passed=diff <= TOLERANCE[dtype] and ref_greedy == greedy)
    except Exception as e:  # one failing comparison must not hide the others
        row.update(passed=False, error=f"{type(e).__name__}: {e}"[:2000])
    return row


def tokenizer_check(folder):
    if not os.path.exists(os.path.join(folder, "tokenizer.json")):
        return None
    try:
        tok = AutoTokenizer.from_pretrained(folder)
        ids = tok("How many singers are there?")["input_ids"]
        return dict(folder=os.path.basename(folder.rstrip("/")), check="AutoTokenizer loads", passed=True,
                    ids=ids, decoded=tok.decode(ids, skip_special_tokens=True))
    except Exception as e:
        return dict(folder=os.path.basename(folder.rstrip("/")), check="AutoTokenizer loads", passed=False,
                    error=f"{type(e).__name__}: {e}"[:2000])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", help="Hugging Face model folders")
    parser.add_argument("--pipeline", required=True, help="the command that runs pipeline, e.g. 'dotnet/dotnet app/pipeline.dll'")
    parser.add_argument("--out", required=True, help="result JSON")
    parser.add_argument("--devices", nargs="+", default=["cuda"], help="torch devices to compare on")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=sorted(TOLERANCE))
    parser.add_argument("--length", type=int, default=24, help="prompt tokens (BOS included)")
    parser.add_argument("--greedy", type=int, default=16, help="greedy tokens to decode")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the prompt ids")
    args = parser.parse_args()
    # Both sides in true fp32: libtorch's default, which transformers on CUDA would otherwise change to TF32 here.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    rows, tokenizers = [], []
    with tempfile.TemporaryDirectory(prefix="gpu-check-logits-") as workdir:
        for folder in args.folders:
            for device in args.devices:
                for dtype in args.dtypes:
                    row = compare(args, folder, device, dtype, workdir)
                    rows.append(row)
                    status = "ok" if row["passed"] else "FAIL"
                    detail = row.get("error") or f"max abs diff {row['max_abs_diff']:.3g}, greedy equal {row['greedy_equal']}"
                    print(f"{status:4} {row['folder']:12} {device:6} {dtype:9} {detail}", flush=True)
            t = tokenizer_check(folder)
            if t is not None:
                tokenizers.append(t)
                print(f"{'ok' if t['passed'] else 'FAIL':4} {t['folder']:12} AutoTokenizer {t.get('error', '')}", flush=True)
    result = dict(comparisons=rows, tokenizers=tokenizers, torch=torch.__version__,
                  passed=all(r["passed"] for r in rows) and all(t["passed"] for t in tokenizers))
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
