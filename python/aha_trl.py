"""Run TRL's GRPOTrainer (and TRL's other vLLM-server trainers) against `aha serve`.

TRL's server mode keeps the server's weights in step with the policy over
NCCL: its VLLMClient calls /init_communicator/ and joins a PyTorch process
group, which a Go server cannot join (aha answers 501). aha takes new weights
from a folder instead: POST /load_weights/ {"path": DIR}. This module gives
TRL a client that does that, so a stock trainer runs unchanged:

    import aha_trl
    aha_trl.install(checkpoint_dir="/scratch/policy")  # before the trainer is built
    trainer = GRPOTrainer(model=..., reward_funcs=..., train_dataset=...,
                          args=GRPOConfig(use_vllm=True, vllm_mode="server",
                                          vllm_server_base_url="http://127.0.0.1:8000"))
    trainer.train()

How TRL syncs (TRL 0.19 to 1.10.0.dev0, commit f2cd577): only the main
process builds a VLLMClient and calls init_communicator() on it, inside the
trainer's constructor (GRPOTrainer.__init__ in 0.x, VLLMGeneration._init_vllm
in 1.x). Before each generation after an optimizer step the main process calls
update_named_param(name, tensor) once per parameter, inside TRL's own gather
(DeepSpeed ZeRO-3, FSDP1/2) and with PEFT adapters merged and their names
mapped back to the base model's, then reset_prefix_cache() once. The client
installed here:

- init_communicator: opens no NCCL group; it only checks that the server
  answers. close_communicator has nothing to close.
- update_named_param: copies the tensor to the host (cast to bfloat16 by
  default, as vLLM casts into its own dtype) and keeps it.
- reset_prefix_cache: when tensors were collected, writes them as one
  safetensors file beside the served model's config.json into a new folder
  CHECKPOINT_DIR/.policy-NNNNNN.tmp, renames it to policy-NNNNNN, POSTs
  /load_weights/ (which also clears the server's prefix cache) and, once the
  server has swapped, deletes the older policy-* folders. On a failed load
  the new folder is removed and AhaWeightSyncError says why; the server
  keeps serving the previous weights.
- update_model_params(model): the same for a model at hand, through
  model.save_pretrained(dir, safe_serialization=True); a PEFT model is
  merged (merge_adapter), its base weights sent, and unmerged, as TRL does.
- generate, chat and TRL's other requests: TRL's own methods, over the
  client's HTTP session (aha serves TRL 1.10's vllm-serve contract).

Why the class is replaced before the trainer is built, rather than on a
built trainer or from a TrainerCallback: the trainer's constructor already
calls init_communicator (so it fails on the 501 before any callback runs),
and collecting inside TRL's update_named_param loop reuses TRL's gathering
of sharded parameters and PEFT merging, which a save_pretrained from a
callback would get wrong under ZeRO-3 or FSDP.

The rank-0 process holds one host copy of the weights while it writes them
(about 1 GB for Qwen2.5-0.5B in bfloat16). CHECKPOINT_DIR must be readable
by the server under the same path, or pass server_checkpoint_dir. The
served model's config.json is taken from the folder the server reports in
/v1/models, or from config_dir. TRL's trainers otherwise need vLLM
installed; install() lets server mode run without it, since with aha nothing
of vLLM is used.

The HTTP part needs only the standard library (it uses requests when it is
installed); torch and TRL are imported only when they are used.
"""

import atexit
import importlib
import importlib.util
import json
import logging
import os
import re
import shutil
import struct
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

__all__ = ["AhaClient", "AhaWeightSyncError", "HostTensor", "install", "uninstall", "write_safetensors"]

logger = logging.getLogger(__name__)


class AhaWeightSyncError(RuntimeError):
    """The server did not take the new weights; it still serves the previous ones."""


@dataclass
class HostTensor:
    """A tensor in host memory: its safetensors dtype (BF16, F16 or F32),
    shape, and raw little-endian bytes (anything memoryview accepts).
    update_named_param takes these as well as torch tensors, so trainers
    that do not use torch can send weights too."""

    dtype: str
    shape: tuple
    data: object

    def nbytes(self):
        return memoryview(self.data).nbytes


_ITEMSIZE = {"F32": 4, "F16": 2, "BF16": 2}


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: HostTensor} as one safetensors file at path."""
    header = {"__metadata__": dict(metadata or {"format": "pt"})}
    # Wider types first, so every tensor starts aligned to its element size.
    names = sorted(tensors, key=lambda n: (-_ITEMSIZE[tensors[n].dtype], n))
    offset = 0
    for name in names:
        t = tensors[name]
        n = t.nbytes()
        want = _ITEMSIZE[t.dtype]
        for d in t.shape:
            want *= d
        if n != want:
            raise ValueError(f"tensor {name}: {n} bytes of data for {t.dtype} {list(t.shape)} ({want} bytes)")
        header[name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name in names:
            f.write(memoryview(tensors[name].data).cast("B"))


# --- HTTP: requests when installed (TRL's own methods use self.session), else urllib ---


class _Response:
    def __init__(self, status_code, body, headers):
        self.status_code, self.content, self.headers = status_code, body, headers

    @property
    def text(self):
        return self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


class _Session:
    """The part of requests.Session this module and TRL's VLLMClient use."""

    def request(self, method, url, json_body=None, timeout=None):
        data, headers = None, {}
        if json_body is not None:
            data, headers = json.dumps(json_body).encode(), {"Content-Type": "application/json"}
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return _Response(r.status, r.read(), dict(r.headers))
        except urllib.error.HTTPError as e:
            return _Response(e.code, e.read(), dict(e.headers))
        except urllib.error.URLError as e:
            raise ConnectionError(f"{method} {url}: {e.reason}") from e

    def get(self, url, timeout=None, **_):
        return self.request("GET", url, timeout=timeout)

    def post(self, url, json=None, timeout=None, **_):  # noqa: A002 (requests' name)
        return self.request("POST", url, json_body=json if json is not None else {}, timeout=timeout)

    def mount(self, *_):
        pass


def _new_session():
    try:
        import requests
    except ImportError:
        return _Session()
    return requests.Session()


def _check(response, what):
    if response.status_code != 200:
        raise RuntimeError(f"{what} failed: {response.status_code}, {response.text}")
    return response.json()


_STEP = re.compile(r"^policy-(\d{6,})$")


class AhaClient:
    """TRL's VLLMClient interface for `aha serve`, with weights synced through
    /load_weights/ (see the module's documentation). install() makes a
    subclass of TRL's VLLMClient from it; it also works alone.

    The first five arguments are VLLMClient's. checkpoint_dir: where the
    policy-NNNNNN folders go (default: $AHA_CHECKPOINT_DIR, else
    ./aha-policy). server_checkpoint_dir: the same folder as the server sees
    it, when its path differs there. config_dir: a folder holding the served
    model's config.json (default: the folder the server reports). keep: how
    many policy folders to leave, the served one included. dtype: what
    floating-point tensors are cast to (bfloat16, float16, float32, or None
    to keep theirs)."""

    def __init__(self, base_url=None, host="0.0.0.0", server_port=8000, group_port=51216, connection_timeout=0.0,
                 *, checkpoint_dir=None, server_checkpoint_dir=None, config_dir=None, keep=1, dtype="bfloat16"):
        self.session = _new_session()
        if base_url is not None:
            self.base_url = base_url.rstrip("/")
        else:
            self.host, self.server_port = host, server_port
            self.base_url = f"http://{host}:{server_port}"
        self.group_port = group_port
        self.communicator = None
        self.checkpoint_dir = os.path.abspath(checkpoint_dir or os.environ.get("AHA_CHECKPOINT_DIR") or "aha-policy")
        self.server_checkpoint_dir = server_checkpoint_dir or self.checkpoint_dir
        self.config_dir = config_dir
        if keep < 1:
            raise ValueError("keep must be at least 1: the served folder must stay")
        self.keep, self.dtype = keep, dtype
        self.last_sync = None  # {"path", "write_s", "load_s", "bytes"} of the last sync
        self._pending = {}
        self._config = None
        self._step = 0
        self.check_server(connection_timeout)

    # --- what TRL's trainers call ---

    def check_server(self, total_timeout=0.0, retry_interval=2.0):
        """Waits up to total_timeout seconds for GET /health/ to answer 200."""
        start = time.time()
        while True:
            try:
                if self.session.get(f"{self.base_url}/health/", timeout=30).status_code == 200:
                    return
            except (ConnectionError, OSError) as e:
                if time.time() - start >= total_timeout:
                    raise ConnectionError(f"aha serve cannot be reached at {self.base_url} after {total_timeout} seconds") from e
            else:
                if time.time() - start >= total_timeout:
                    raise ConnectionError(f"aha serve at {self.base_url} is not healthy after {total_timeout} seconds")
            time.sleep(retry_interval)

    def generate(self, prompts, images=None, n=1, repetition_penalty=1.0, temperature=1.0, top_p=1.0, top_k=0,
                 min_p=0.0, max_tokens=16, logprobs=0, structured_outputs_regex=None, generation_kwargs=None):
        """POST /generate/, as VLLMClient.generate; images are not supported."""
        if images and any(i is not None for i in images):
            raise NotImplementedError("aha serves text models: images are not supported")
        body = {"prompts": prompts, "n": n, "repetition_penalty": repetition_penalty, "temperature": temperature,
                "top_p": top_p, "top_k": top_k, "min_p": min_p, "max_tokens": max_tokens, "logprobs": logprobs,
                "generation_kwargs": generation_kwargs or {}}
        if structured_outputs_regex is not None:
            body["structured_outputs_regex"] = structured_outputs_regex  # aha refuses it, naming the field
        return self._completions("generate", body)

    def chat(self, messages, n=1, repetition_penalty=1.0, temperature=1.0, top_p=1.0, top_k=0, min_p=0.0,
             max_tokens=16, logprobs=0, structured_outputs_regex=None, generation_kwargs=None,
             chat_template_kwargs=None, tools=None, chat_template=None):
        """POST /chat/, as VLLMClient.chat."""
        if chat_template is not None:
            raise NotImplementedError("a per-request chat template is not supported: start aha serve with --template")
        body = {"messages": messages, "n": n, "repetition_penalty": repetition_penalty, "temperature": temperature,
                "top_p": top_p, "top_k": top_k, "min_p": min_p, "max_tokens": max_tokens, "logprobs": logprobs,
                "generation_kwargs": generation_kwargs or {}, "chat_template_kwargs": chat_template_kwargs or {}}
        if structured_outputs_regex is not None:
            body["structured_outputs_regex"] = structured_outputs_regex
        if tools:
            body["tools"] = tools
        return self._completions("chat", body)

    def _completions(self, path, body):
        out = _check(self.session.post(f"{self.base_url}/{path}/", json=body), f"POST /{path}/")
        return {k: out.get(k) for k in ("prompt_ids", "completion_ids", "logprobs", "logprob_token_ids")}

    def init_communicator(self, device=0):
        """Opens no NCCL group (weights go through /load_weights/); checks
        that the server is one process, as a swap loads all of it."""
        ws = _check(self.session.get(f"{self.base_url}/get_world_size/"), "GET /get_world_size/")["world_size"]
        self.rank = ws
        atexit.register(self.close_communicator)

    def close_communicator(self):
        """Drops weights collected but not sent; there is no group to close."""
        self._pending.clear()
        self.communicator = None

    def update_named_param(self, name, weights):
        """Keeps a host copy of one parameter; reset_prefix_cache() (or
        sync()) sends all of them as one new checkpoint."""
        self._pending[name] = self._to_host(weights)

    def update_model_params(self, model):
        """Sends the whole model. A PEFT model is merged, its base weights
        sent under the base model's names, and unmerged, as TRL does; other
        models are written with save_pretrained. Call it on one process: for
        a sharded model (ZeRO-3, FSDP), let the trainer sync instead."""
        peft = sys.modules.get("peft")
        if peft is not None and isinstance(model, peft.PeftModel):
            model.merge_adapter()
            try:
                for name, param in model.named_parameters():
                    name = name.removeprefix("base_model.model.").replace(".base_layer", "")
                    if model.prefix in name or "original_module" in name:
                        continue  # the adapter itself, merged already; a modules_to_save original
                    self.update_named_param(name.replace("modules_to_save.default.", ""), param.data)
            finally:
                model.unmerge_adapter()
            self.sync()
            return
        self._publish(lambda d: model.save_pretrained(d, safe_serialization=True))

    def reset_prefix_cache(self):
        """TRL calls this after the last update_named_param of a sync: send
        the collected weights (loading them clears the prefix cache), or
        just clear the cache when none were collected."""
        if self._pending:
            self.sync()
        else:
            _check(self.session.post(f"{self.base_url}/reset_prefix_cache/"), "POST /reset_prefix_cache/")

    # --- the weight sync ---

    def sync(self):
        """Writes the collected weights to a new folder and has the server load it."""
        if not self._pending:
            return
        tensors, self._pending = self._pending, {}
        config = self._config_files()

        def write(d):
            for f, data in config.items():
                with open(os.path.join(d, f), "wb") as fh:
                    fh.write(data)
            write_safetensors(os.path.join(d, "model.safetensors"), tensors)

        self._publish(write)

    def _publish(self, write):
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        self._step = max([self._step] + [int(m.group(1)) for m in map(_STEP.match, os.listdir(self.checkpoint_dir)) if m]) + 1
        name = f"policy-{self._step:06d}"
        tmp, final = os.path.join(self.checkpoint_dir, f".{name}.tmp"), os.path.join(self.checkpoint_dir, name)
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        start = time.perf_counter()
        try:
            write(tmp)
            os.rename(tmp, final)  # the server never sees a half-written folder
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        wrote = time.perf_counter()
        path = os.path.join(self.server_checkpoint_dir, name)
        try:
            r = self.session.post(f"{self.base_url}/load_weights/", json={"path": path})
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
        if r.status_code != 200:
            shutil.rmtree(final, ignore_errors=True)
            try:
                msg = r.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                msg = r.text
            raise AhaWeightSyncError(f"aha serve at {self.base_url} did not load {path} ({r.status_code}): {msg}")
        loaded = time.perf_counter()
        self.last_sync = {"path": path, "write_s": wrote - start, "load_s": loaded - wrote,
                          "bytes": sum(os.path.getsize(os.path.join(final, f)) for f in os.listdir(final))}
        logger.info("aha: serving %s (written in %.2fs, loaded in %.2fs)", path, wrote - start, loaded - wrote)
        self._prune()

    def _prune(self):
        """Deletes all but the newest `keep` policy folders: the server has
        swapped and unmapped the old weights before /load_weights/ answers."""
        steps = sorted(n for n in os.listdir(self.checkpoint_dir) if _STEP.match(n))
        for n in steps[:-self.keep]:
            shutil.rmtree(os.path.join(self.checkpoint_dir, n), ignore_errors=True)

    def _config_files(self):
        """config.json and generation_config.json, read once: the folder
        they come from may be a policy folder pruned later."""
        if self._config is None:
            d = self.config_dir or self.served_path()
            if not os.path.isfile(os.path.join(d, "config.json")):
                raise AhaWeightSyncError(
                    f"{d} is not a Hugging Face folder readable here (it has no config.json); "
                    "pass config_dir, a folder with the served model's config.json")
            self._config = {}
            for f in ("config.json", "generation_config.json"):
                if os.path.isfile(os.path.join(d, f)):
                    with open(os.path.join(d, f), "rb") as fh:
                        self._config[f] = fh.read()
        return self._config

    def served_path(self):
        """The file or folder the server serves, as GET /v1/models reports it."""
        return _check(self.session.get(f"{self.base_url}/v1/models"), "GET /v1/models")["data"][0]["root"]

    def _to_host(self, t):
        if isinstance(t, HostTensor):
            return t
        import torch

        dtypes = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32"}
        if not t.is_floating_point():
            raise TypeError(f"aha loads floating-point weights; got a {t.dtype} tensor")
        want = getattr(torch, self.dtype) if self.dtype else t.dtype
        if want not in dtypes:
            raise TypeError(f"aha loads bfloat16, float16 and float32 weights, not {want}")
        t = t.detach().to("cpu", dtype=want, copy=True).contiguous()
        return HostTensor(dtypes[want], tuple(t.shape), t.view(torch.uint8).numpy())


# --- installing into TRL ---

_patched = []  # (module, attribute, original)


def _trl_client_class():
    for mod in ("trl.generation.vllm_client", "trl.extras.vllm_client"):
        try:
            return importlib.import_module(mod).VLLMClient
        except (ImportError, AttributeError):
            continue
    raise ImportError("TRL's VLLMClient was not found (trl.generation.vllm_client or trl.extras.vllm_client)")


def install(**options):
    """Makes TRL's trainers use aha in server mode: every TRL module that
    holds TRL's VLLMClient gets a subclass built on AhaClient instead, which
    takes AhaClient's keyword options (checkpoint_dir, config_dir, keep,
    dtype, server_checkpoint_dir) and keeps TRL's generate and chat. Call
    it before the trainer is built. Returns the subclass."""
    base = _trl_client_class()
    # Generation stays TRL's own: its arguments and results are what that
    # version's trainers pass and expect (they changed over TRL's releases).
    ns = {name: getattr(base, name) for name in ("generate", "chat") if hasattr(base, name)}
    cls = type("AhaVLLMClient", (AhaClient, base), {"__doc__": AhaClient.__doc__, **ns})
    if options:
        init = AhaClient.__init__

        def __init__(self, *args, **kwargs):
            init(self, *args, **{**options, **kwargs})

        cls.__init__ = __init__
    # The modules that build the client import its name; patch them where loaded.
    for mod in ("trl.generation.vllm_generation", "trl.trainer.grpo_trainer", "trl.trainer.rloo_trainer"):
        try:
            importlib.import_module(mod)
        except ImportError:
            pass
    no_vllm = importlib.util.find_spec("vllm") is None
    for name, mod in list(sys.modules.items()):
        if not (name == "trl" or name.startswith("trl.")) or getattr(mod, "VLLMClient", None) is not base:
            continue
        _patch(mod, "VLLMClient", cls)
        # Server mode checks for vLLM before building the client; with aha
        # nothing of vLLM is used.
        if no_vllm and callable(getattr(mod, "is_vllm_available", None)):
            _patch(mod, "is_vllm_available", lambda *a, **k: True)
    return cls


def _patch(mod, attr, value):
    _patched.append((mod, attr, getattr(mod, attr)))
    setattr(mod, attr, value)


def uninstall():
    """Undoes install()."""
    while _patched:
        mod, attr, value = _patched.pop()
        setattr(mod, attr, value)
