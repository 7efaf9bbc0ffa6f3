"""Times one weight sync through aha_trl: writing the policy's folder and
/load_weights/, for the model a running `aha serve` serves (an HF folder).

    python3 python/sync_cost.py --url http://127.0.0.1:8000 --steps 3 --checkpoint-dir /scratch/policy

It sends tensors of the served model's names and shapes (in bfloat16, with
made-up values) through AhaClient.update_named_param and reset_prefix_cache,
as TRL's trainer does, and prints each step's write and load times. The
trainer's own part (the copy from the GPU, the cast to bfloat16) comes on top.

To try a model shape without its weights, write a folder with made-up weights
first (the tokenizer files are copied from --tokenizer):

    python3 python/sync_cost.py --synth qwen2.5-0.5b --tokenizer HF_FOLDER /tmp/q05
    aha serve -m /tmp/q05

and, for the same shape, a PEFT LoRA adapter of rank 16 on all seven linear
layers (q, k, v, o, gate, up, down) with made-up factors, to send to
/load_weights/ as {"path": "/tmp/q05-lora"}:

    python3 python/sync_cost.py --synth qwen2.5-0.5b --lora-rank 16 /tmp/q05-lora
"""

import argparse
import json
import os
import random
import shutil
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aha_trl  # noqa: E402

# The config.json fields of Qwen/Qwen2.5-0.5B-Instruct and -1.5B-Instruct.
SHAPES = {
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2),
    "qwen2.5-1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                         num_key_value_heads=2),
}


def qwen2_config(shape):
    return {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu",
            "vocab_size": 151936, "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
            "tie_word_embeddings": True, "torch_dtype": "bfloat16", "bos_token_id": 151643, "eos_token_id": 151645,
            "use_sliding_window": False, "sliding_window": 32768, "max_window_layers": 21, **SHAPES[shape]}


def qwen2_shapes(c):
    h, kv = c["hidden_size"], c["num_key_value_heads"] * c["hidden_size"] // c["num_attention_heads"]
    shapes = {"model.embed_tokens.weight": (c["vocab_size"], h), "model.norm.weight": (h,)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (h, h), p + "self_attn.q_proj.bias": (h,),
            p + "self_attn.k_proj.weight": (kv, h), p + "self_attn.k_proj.bias": (kv,),
            p + "self_attn.v_proj.weight": (kv, h), p + "self_attn.v_proj.bias": (kv,),
            p + "self_attn.o_proj.weight": (h, h),
            p + "mlp.gate_proj.weight": (c["intermediate_size"], h), p + "mlp.up_proj.weight": (c["intermediate_size"], h),
            p + "mlp.down_proj.weight": (h, c["intermediate_size"]),
        })
    return shapes


def served_shapes(folder):
    """{name: shape} of the safetensors in an HF folder."""
    shapes = {}
    for f in sorted(os.listdir(folder)):
        if f.endswith(".safetensors"):
            with open(os.path.join(folder, f), "rb") as fh:
                n = struct.unpack("<Q", fh.read(8))[0]
                header = json.loads(fh.read(n))
            header.pop("__metadata__", None)
            shapes.update({k: tuple(v["shape"]) for k, v in header.items()})
    return shapes


def made_up(shapes, seed):
    """BF16 tensors of small values (|x| < 0.03), a repeated random block."""
    rng = random.Random(seed)
    block = bytes(b for _ in range(1 << 15) for b in (rng.randrange(256), rng.choice((0x3c, 0xbc))))
    out = {}
    for name, shape in shapes.items():
        n = 2
        for d in shape:
            n *= d
        data = block * (n // len(block)) + block[: n % len(block)]
        out[name] = aha_trl.HostTensor("BF16", shape, data)
    return out


def synth(args):
    config = qwen2_config(args.synth)
    os.makedirs(args.out)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    for f in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        if os.path.exists(os.path.join(args.tokenizer, f)):
            shutil.copyfile(os.path.join(args.tokenizer, f), os.path.join(args.out, f))
    tensors = made_up(qwen2_shapes(config), 0)
    aha_trl.write_safetensors(os.path.join(args.out, "model.safetensors"), tensors)
    print(f"wrote {args.out}: {sum(t.nbytes() for t in tensors.values()) / 1e9:.2f} GB of bfloat16 weights")


def synth_lora(args):
    config = qwen2_config(args.synth)
    os.makedirs(args.out)
    modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    with open(os.path.join(args.out, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "r": args.lora_rank, "lora_alpha": 2 * args.lora_rank,
                   "target_modules": modules, "bias": "none"}, f, indent=2)
    shapes = {}
    for name, shape in qwen2_shapes(config).items():
        if name.endswith(".weight") and name.split(".")[-2] in modules:
            base = "base_model.model." + name[: -len(".weight")]
            shapes[base + ".lora_A.weight"] = (args.lora_rank, shape[1])
            shapes[base + ".lora_B.weight"] = (shape[0], args.lora_rank)
    tensors = made_up(shapes, 1)
    aha_trl.write_safetensors(os.path.join(args.out, "adapter_model.safetensors"), tensors)
    print(f"wrote {args.out}: {sum(t.nbytes() for t in tensors.values()) / 1e6:.1f} MB of bfloat16 factors")


def run(args):
    client = aha_trl.AhaClient(base_url=args.url, checkpoint_dir=args.checkpoint_dir, connection_timeout=60)
    client.init_communicator()
    shapes = served_shapes(client.config_dir or client.served_path())
    print(f"{'step':>4} {'GB':>6} {'write s':>8} {'load s':>8} {'total s':>8}")
    for step in range(1, args.steps + 1):
        tensors = made_up(shapes, step)  # made before the clock starts: the trainer's tensors exist already
        start = time.perf_counter()
        for name, t in tensors.items():
            client.update_named_param(name, t)
        client.reset_prefix_cache()
        total = time.perf_counter() - start
        s = client.last_sync
        print(f"{step:>4} {s['bytes'] / 1e9:>6.2f} {s['write_s']:>8.2f} {s['load_s']:>8.2f} {total:>8.2f}", flush=True)
        del tensors


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8000", help="the aha server")
    ap.add_argument("--steps", type=int, default=3, help="how many syncs to time")
    ap.add_argument("--checkpoint-dir", default="aha-policy", help="where the policy folders go")
    ap.add_argument("--synth", choices=sorted(SHAPES), help="write a folder of this shape with made-up weights to OUT")
    ap.add_argument("--tokenizer", help="with --synth: an HF folder to copy the tokenizer files from")
    ap.add_argument("--lora-rank", type=int, help="with --synth: write a LoRA adapter of this rank for the shape instead")
    ap.add_argument("out", nargs="?", help="with --synth: the folder to write")
    args = ap.parse_args()
    if args.synth and args.lora_rank:
        if not args.out:
            ap.error("--synth needs an output folder")
        synth_lora(args)
    elif args.synth:
        if not (args.out and args.tokenizer):
            ap.error("--synth needs --tokenizer and an output folder")
        synth(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
