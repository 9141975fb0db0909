"""Tunes a low-rank adapter (LoRA) for a llama-architecture GGUF chat model on yes/no questions
whose answers the simulator knows (`examples/facts_tuning_data.rs`: the diagnosis benchmark's
development agents only), and writes it as safetensors for the embedded judge, which adds it to
the dequantized weights at load (`src/llm/embedded/model.rs`).

The forward pass is the model's own (RMSNorm, interleaved rotary embeddings as GGUF stores them,
grouped-query attention, SwiGLU), its weights dequantized from the GGUF and frozen; only the
adapters on the attention and MLP projections train. The loss is the cross-entropy of the
answer read the way the judge reads it: log P(yes words) - log P(no words) of the first answer
token. Agents listed in --validation are not trained on: they choose the epoch kept.

python scripts/tune_judge.py MODEL.gguf DATA.jsonl OUT.safetensors [--rank 8] [--epochs 3]
    [--lr 1e-3] [--tuned-layers 10] [--validation top_right-s2,...] [--valid-data VALID.jsonl]
    [--questions CheeseIn,HeadsFor] [--balance] [--per-fact N] [--skip-base] [--check]
    [--evaluate ADAPTER]

Questions run in batches of similar length (right-padded); memory grows with --batch times the
prompt length times the layers tuned (batches of 16 on all 30 of SmolLM2's layers outgrew 24 GB;
4 took 8 GB).

The prompts must come from a variant without a one-axis question (`facts`, `facts-shots`): those
are asked in one prompt each, which is what `EmbeddedJudge::fact_prompt` writes.
"""

import argparse
import json
import math
import random
import re
import sys
import time

import gguf
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file

TARGETS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]


def field(reader, key):
    f = reader.fields[key]
    value = f.parts[f.data[0]]
    return value.item() if value.size == 1 else value


def load_gguf(path):
    """The model's hyper-parameters, its weights as float32 tensors shaped (out, in), and its
    vocabulary (token strings by id)."""
    reader = gguf.GGUFReader(path)
    arch = bytes(field(reader, "general.architecture")).decode()
    if arch != "llama":
        sys.exit(f"{path}: architecture {arch}; this script tunes llama models")
    hp = {
        "layers": int(field(reader, "llama.block_count")),
        "heads": int(field(reader, "llama.attention.head_count")),
        "kv_heads": int(field(reader, "llama.attention.head_count_kv")),
        "eps": float(field(reader, "llama.attention.layer_norm_rms_epsilon")),
        "rope_base": float(field(reader, "llama.rope.freq_base")),
    }
    weights = {}
    for t in reader.tensors:
        array = gguf.quants.dequantize(t.data, t.tensor_type)
        weights[t.name] = torch.from_numpy(np.array(array, dtype=np.float32))
    tokens = reader.fields["tokenizer.ggml.tokens"]
    vocabulary = [bytes(tokens.parts[i]).decode("utf-8", "replace") for i in tokens.data]
    return hp, weights, vocabulary


class Lora(torch.nn.Module):
    def __init__(self, weight, rank, alpha):
        super().__init__()
        out_features, in_features = weight.shape
        self.weight = weight
        self.a = torch.nn.Parameter(torch.randn(rank, in_features) / math.sqrt(in_features))
        self.b = torch.nn.Parameter(torch.zeros(out_features, rank))
        self.scale = alpha / rank

    def forward(self, x):
        return x @ self.weight.T + ((x @ self.a.T) @ self.b.T) * self.scale


class Llama(torch.nn.Module):
    def __init__(self, hp, weights, rank, alpha, tuned_layers):
        super().__init__()
        self.hp = hp
        self.w = weights
        self.adapters = torch.nn.ModuleDict()
        self.names = {}
        self.first_tuned = hp["layers"] - tuned_layers
        for i in range(self.first_tuned, hp["layers"]):
            for name in TARGETS:
                key = f"blk.{i}.{name}.weight"
                self.adapters[key.replace(".", "_")] = Lora(weights[key], rank, alpha)
                self.names[key.replace(".", "_")] = key
        dim = weights["token_embd.weight"].shape[1]
        self.head_dim = dim // hp["heads"]
        inv = 1.0 / hp["rope_base"] ** (torch.arange(0, self.head_dim, 2).float() / self.head_dim)
        self.inv_freq = inv

    def linear(self, layer, name, x):
        key = f"blk_{layer}_{name}_weight"
        if key in self.adapters:
            return self.adapters[key](x)
        return x @ self.w[f"blk.{layer}.{name}.weight"].T

    def rms(self, x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.hp["eps"]) * weight

    def rope(self, x):
        # Interleaved pairs (2i, 2i+1), as GGUF's llama weights expect.
        seq = x.shape[-2]
        angles = torch.outer(torch.arange(seq).float(), self.inv_freq)
        cos, sin = angles.cos(), angles.sin()
        even, odd = x[..., 0::2], x[..., 1::2]
        return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)

    def frozen(self, ids):
        """The hidden states entering the first tuned layer, shaped (tokens, dim): nothing below
        it trains, so they are computed once per question."""
        with torch.no_grad():
            x = self.w["token_embd.weight"][torch.tensor(ids)].unsqueeze(0)
            return self.layers(x, 0, self.first_tuned)[0]

    def forward(self, frozen):
        """log P(yes words) - log P(no words) after the last token of each question, for a list
        of `frozen(ids)` states: one batch, right-padded (the causal mask keeps every question's
        tokens from seeing the padding after them)."""
        lengths = torch.tensor([f.shape[0] for f in frozen])
        x = torch.nn.utils.rnn.pad_sequence(frozen, batch_first=True)
        x = self.layers(x, self.first_tuned, self.hp["layers"])
        w = self.w
        last = self.rms(x[torch.arange(len(frozen)), lengths - 1], w["output_norm.weight"])
        head = w.get("output.weight", w["token_embd.weight"])
        logprobs = torch.log_softmax(last @ head.T, dim=-1)
        return (torch.logsumexp(logprobs[:, self.yes], -1)
                - torch.logsumexp(logprobs[:, self.no], -1))

    def odds(self, ids):
        """The log-odds for one question's token ids."""
        return self.forward([self.frozen(ids)])[0]

    def layers(self, x, first, end):
        hp = self.hp
        w = self.w
        batch, seq = x.shape[0], x.shape[1]
        for i in range(first, end):
            h = self.rms(x, w[f"blk.{i}.attn_norm.weight"])
            q = self.linear(i, "attn_q", h).view(batch, seq, hp["heads"], self.head_dim).transpose(1, 2)
            k = self.linear(i, "attn_k", h).view(batch, seq, hp["kv_heads"], self.head_dim).transpose(1, 2)
            v = self.linear(i, "attn_v", h).view(batch, seq, hp["kv_heads"], self.head_dim).transpose(1, 2)
            q, k = self.rope(q), self.rope(k)
            groups = hp["heads"] // hp["kv_heads"]
            k = k.repeat_interleave(groups, dim=1)
            v = v.repeat_interleave(groups, dim=1)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            a = a.transpose(1, 2).reshape(batch, seq, -1)
            x = x + self.linear(i, "attn_output", a)
            h = self.rms(x, w[f"blk.{i}.ffn_norm.weight"])
            gate = F.silu(self.linear(i, "ffn_gate", h))
            x = x + self.linear(i, "ffn_down", gate * self.linear(i, "ffn_up", h))
        return x


def batches(rows, size, shuffle):
    """Batches of questions of similar length (little padding), in random order if `shuffle`."""
    order = sorted(rows, key=lambda r: len(r["tokens"]))
    groups = [order[i:i + size] for i in range(0, len(order), size)]
    if shuffle:
        random.shuffle(groups)
    return groups


def accuracy(model, rows, size=16):
    """Balanced accuracy: the mean of the shares right among true and among false questions."""
    hits = {True: [0, 0], False: [0, 0]}
    with torch.no_grad():
        for group in batches(rows, size, shuffle=False):
            odds = model([r["frozen"] for r in group])
            for r, o in zip(group, odds.tolist()):
                hits[r["truth"]][0] += int((o > 0) == r["truth"])
                hits[r["truth"]][1] += 1
    shares = [right / count for right, count in hits.values() if count]
    print(f"    true questions right {hits[True][0]}/{hits[True][1]}, false ones "
          f"{hits[False][0]}/{hits[False][1]}", flush=True)
    return sum(shares) / max(len(shares), 1)


def cheese_cell(reader_tokens, ids):
    """The cheese's cell as the prompt states it ("The cheese is at row R, column C")."""
    text = "".join(reader_tokens[t] for t in ids).replace("\u0120", " ")
    found = re.search(r"cheese is at row (\d+), column (\d+)", text)
    return found.groups() if found else None


def per_fact(rows, cap, vocabulary):
    """At most `cap` questions per (question, cheese cell): the answer to a cheese question
    depends on nothing else, and agents trained on one corner repeat the same few cells."""
    kept, seen = [], {}
    for r in rows:
        key = (r["question"], cheese_cell(vocabulary, r["tokens"]))
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= cap:
            kept.append(r)
    return kept


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("out")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16.0)
    p.add_argument("--tuned-layers", type=int, default=10, help="adapters on the top N layers")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation", default="", help="agents of DATA kept for validation")
    p.add_argument("--valid-data", help="another file of questions for validation")
    p.add_argument("--questions", default="",
                   help="only these question kinds, comma-separated (e.g. CheeseIn)")
    p.add_argument("--per-fact", type=int, default=0,
                   help="at most N training (and validation) questions per (question, cheese "
                   "cell); 0: all")
    p.add_argument("--skip-base", action="store_true",
                   help="do not measure the untuned model on the validation questions first")
    p.add_argument("--balance", action="store_true",
                   help="weigh true answers by false/true so both count alike")
    p.add_argument("--check", action="store_true", help="compare with the reference odds and stop")
    p.add_argument("--evaluate", metavar="ADAPTER",
                   help="report ADAPTER's accuracy on DATA per question kind (OUT unused)")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(2)

    with open(args.data) as f:
        header = json.loads(f.readline())
        rows = [json.loads(line) for line in f]
    hp, weights, vocabulary = load_gguf(args.model)
    model = Llama(hp, weights, args.rank, args.alpha, args.tuned_layers)
    model.yes, model.no = header["yes"], header["no"]

    reference = [r for r in rows if "odds" in r]
    if reference:
        with torch.no_grad():
            diffs = [abs(model.odds(r["tokens"]).item() - r["odds"]) for r in reference]
        print(f"forward check on {len(reference)} questions: max |odds - judge's odds| = "
              f"{max(diffs):.3f}, mean {sum(diffs) / len(diffs):.3f}", flush=True)
    if args.check:
        return
    if args.evaluate:
        evaluate(model, args.evaluate, rows)
        return

    held = set(a for a in args.validation.split(",") if a)
    train = [r for r in rows if r["agent"] not in held]
    valid = [r for r in rows if r["agent"] in held]
    if args.valid_data:
        with open(args.valid_data) as f:
            f.readline()
            valid += [json.loads(line) for line in f]
    kinds = set(k for k in args.questions.split(",") if k)
    if kinds:
        train = [r for r in train if r["question"].split("(")[0] in kinds]
        valid = [r for r in valid if r["question"].split("(")[0] in kinds]
    if args.per_fact:
        train = per_fact(train, args.per_fact, vocabulary)
        valid = per_fact(valid, args.per_fact, vocabulary)
    true_count = max(sum(r["truth"] for r in train), 1)
    weight_true = (len(train) - true_count) / true_count if args.balance else 1.0
    started = time.time()
    for r in train + valid:
        r["frozen"] = model.frozen(r["tokens"])
    print(f"frozen layers run once per question: {time.time() - started:.0f} s", flush=True)
    print(f"{len(train)} training questions, {len(valid)} validation questions "
          f"({sum(r['truth'] for r in train)} true in training)", flush=True)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    steps = args.epochs * math.ceil(len(train) / args.batch)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: 1 - s / max(steps, 1))
    best = (accuracy(model, valid) if valid and not args.skip_base else 0.0, 0)
    measure = ("validation balanced accuracy" if valid
               else "training accuracy (running, no validation set)")
    if valid and args.skip_base:
        print("epoch 0: not measured (--skip-base)", flush=True)
    else:
        print(f"epoch 0: {measure} {best[0]:.3f}", flush=True)
    save(model, args, best, hp)
    started = time.time()
    for epoch in range(1, args.epochs + 1):
        random.shuffle(train)
        total, right = 0.0, 0
        done = 0
        for step, batch in enumerate(batches(train, args.batch, shuffle=True)):
            optimiser.zero_grad()
            odds = model([r["frozen"] for r in batch])
            target = torch.tensor([1.0 if r["truth"] else 0.0 for r in batch])
            weight = torch.tensor([weight_true if r["truth"] else 1.0 for r in batch])
            loss = (F.binary_cross_entropy_with_logits(odds, target, reduction="none")
                    * weight).mean()
            loss.backward()
            optimiser.step()
            schedule.step()
            done += len(batch)
            total += loss.item() * len(batch)
            right += sum(int((o > 0) == r["truth"]) for o, r in zip(odds.tolist(), batch))
            if step % 25 == 0:
                print(f"  epoch {epoch}: {done}/{len(train)} loss {total / done:.3f} "
                      f"train accuracy {right / done:.3f} ({time.time() - started:.0f} s)",
                      flush=True)
        score = accuracy(model, valid) if valid else right / len(train)
        print(f"epoch {epoch}: {measure} {score:.3f} ({time.time() - started:.0f} s)",
              flush=True)
        save(model, args, (score, epoch), hp, args.out.replace(".safetensors", f"-epoch{epoch}.safetensors"))
        if score >= best[0]:
            best = (score, epoch)
            save(model, args, best, hp)
    print(f"kept epoch {best[1]} ({measure} {best[0]:.3f}) in {args.out}")


def evaluate(model, path, rows):
    """Loads an adapter written by `save` and prints its accuracy per question kind."""
    from safetensors.numpy import load_file

    tensors = load_file(path)
    with torch.no_grad():
        for key, adapter in model.adapters.items():
            name = model.names[key]
            adapter.a.copy_(torch.from_numpy(tensors[f"{name}.lora_a"].astype(np.float32)))
            adapter.b.copy_(torch.from_numpy(tensors[f"{name}.lora_b"].astype(np.float32))
                            / adapter.scale)
    table = {}
    with torch.no_grad():
        for group in batches(rows, 16, shuffle=False):
            odds = model([model.frozen(r["tokens"]) for r in group])
            for r, o in zip(group, odds.tolist()):
                kind = r["question"].split("(")[0]
                cell = table.setdefault((kind, r["truth"]), [0, 0])
                cell[0] += int(o > 0)
                cell[1] += 1
    for kind in sorted({k for k, _ in table}):
        yes_true, true = table.get((kind, True), [0, 0])
        yes_false, false = table.get((kind, False), [0, 0])
        right = yes_true + false - yes_false
        print(f"{kind}: true questions answered yes {yes_true}/{true}, false ones {yes_false}/"
              f"{false}; accuracy {right / max(true + false, 1):.3f}", flush=True)


def save(model, args, best, hp, out=None):
    tensors = {}
    for key, adapter in model.adapters.items():
        name = model.names[key]
        # Half precision: the adapter is a shipped asset, and f16 keeps its change to the
        # weights within ~1e-3 of the f32 one.
        tensors[f"{name}.lora_a"] = adapter.a.detach().numpy().astype(np.float16)
        tensors[f"{name}.lora_b"] = (adapter.b.detach() * adapter.scale).numpy().astype(np.float16)
    save_file(tensors, out or args.out, metadata={
        "rank": str(args.rank),
        "epoch": str(best[1]),
        "validation_accuracy": f"{best[0]:.4f}",
        "data": args.data,
    })


if __name__ == "__main__":
    main()
