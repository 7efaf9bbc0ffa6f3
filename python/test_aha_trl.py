"""Tests of aha_trl against a real `aha serve` (standard library only).

Run from the repository root: python3 -m unittest discover -s python -v
The aha binary is built with `go build` (or taken from $AHA_BIN); the model
is ../shared/models/qwen2-tiny/hf (or under $AHA_SHARED). Without the shared
folder the tests skip, except under CI=true, where they fail.
"""

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import types
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import aha_trl  # noqa: E402

SHARED = os.environ.get("AHA_SHARED") or os.path.join(REPO, "..", "shared")
MODEL = os.path.join(SHARED, "models", "qwen2-tiny", "hf")
PROMPT = "Once upon a time"

_tmp = None
_aha = None


def setUpModule():
    global _tmp, _aha
    if not os.path.isfile(os.path.join(MODEL, "model.safetensors")):
        msg = f"the shared test model {MODEL} is missing"
        if os.environ.get("CI") == "true":
            raise RuntimeError(msg)
        raise unittest.SkipTest(msg)
    _tmp = tempfile.mkdtemp(prefix="aha-trl-test-")
    _aha = os.environ.get("AHA_BIN")
    if not _aha:
        _aha = os.path.join(_tmp, "aha")
        go = shutil.which("go") or "/usr/local/go/bin/go"
        subprocess.run([go, "build", "-o", _aha, "./cmd/aha"], cwd=REPO, check=True)


def tearDownModule():
    if _tmp:
        shutil.rmtree(_tmp, ignore_errors=True)


def read_safetensors(path):
    """{name: HostTensor} of a safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    return {k: aha_trl.HostTensor(v["dtype"], tuple(v["shape"]), data[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in header.items()}


def negated(t):
    """The BF16 tensor with every sign flipped."""
    b = bytearray(t.data)
    for i in range(1, len(b), 2):
        b[i] ^= 0x80
    return aha_trl.HostTensor(t.dtype, t.shape, bytes(b))


class FakeModel:
    """What the trainer side gives the client: named parameters (host tensors
    here) and save_pretrained writing a Hugging Face folder."""

    def __init__(self, tensors):
        self.tensors = tensors

    def named_parameters(self):
        return iter(sorted(self.tensors.items()))

    def save_pretrained(self, save_directory, safe_serialization=True):
        assert safe_serialization
        for f in ("config.json", "generation_config.json"):
            shutil.copyfile(os.path.join(MODEL, f), os.path.join(save_directory, f))
        aha_trl.write_safetensors(os.path.join(save_directory, "model.safetensors"), self.tensors)


BASE = None  # the model's tensors


def base_tensors():
    global BASE
    if BASE is None:
        BASE = read_safetensors(os.path.join(MODEL, "model.safetensors"))
    return dict(BASE)


def changed_tensors():
    """Different weights: the final norm negated, so the greedy token is the
    least likely one before."""
    t = base_tensors()
    t["model.norm.weight"] = negated(t["model.norm.weight"])
    return t


class Server:
    """`aha serve` on a free loopback port."""

    def __init__(self, model=MODEL):
        self.proc = subprocess.Popen([_aha, "serve", "-t", "2", "-m", model, "--host", "127.0.0.1", "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.log = []
        for line in self.proc.stdout:
            self.log.append(line)
            if " on http://" in line:
                self.url = line.split(" on ")[1].split()[0]
                break
        else:
            raise RuntimeError("aha serve did not start:\n" + "".join(self.log))
        threading.Thread(target=lambda: self.log.extend(self.proc.stdout), daemon=True).start()

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.proc.stdout.close()


class TestCase(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.close)
        self.dir = tempfile.mkdtemp(prefix="ckpt-", dir=_tmp)

    def greedy(self, client):
        out = client.generate([PROMPT], temperature=0.0, max_tokens=8)
        return out["completion_ids"][0]

    def served(self, client):
        return client.served_path()

    def policies(self):
        return sorted(os.listdir(self.dir))


class TestClient(TestCase):
    def test_generate_answers_as_vllm_client(self):
        c = aha_trl.AhaClient(base_url=self.server.url, checkpoint_dir=self.dir)
        c.init_communicator(device="cuda:0")
        out = c.generate([PROMPT, [9707, 11]], n=2, temperature=1.0, max_tokens=5, logprobs=0)
        self.assertEqual(set(out), {"prompt_ids", "completion_ids", "logprobs", "logprob_token_ids"})
        self.assertEqual(len(out["prompt_ids"]), 2)
        self.assertEqual(out["prompt_ids"][1], [9707, 11])
        self.assertEqual(len(out["completion_ids"]), 4)  # n per prompt, prompt-major
        for ids, lps, lp_ids in zip(out["completion_ids"], out["logprobs"], out["logprob_token_ids"]):
            self.assertEqual(len(ids), len(lps))
            self.assertEqual([x[0] for x in lp_ids], ids)  # logprobs=0: the sampled token only
            self.assertTrue(all(len(x) == 1 and x[0] <= 0 for x in lps))
        chat = c.chat([[{"role": "user", "content": "Hi"}]], max_tokens=3)
        self.assertEqual(len(chat["completion_ids"]), 1)
        c.reset_prefix_cache()  # nothing collected: only clears the cache
        self.assertEqual(self.policies(), [])
        c.close_communicator()

    def test_trainer_sync_loads_new_folders_and_prunes_old_ones(self):
        c = aha_trl.AhaClient(base_url=self.server.url, checkpoint_dir=self.dir)
        c.init_communicator()
        before = self.greedy(c)

        # What TRL's trainer does after an optimizer step.
        for name, p in FakeModel(changed_tensors()).named_parameters():
            c.update_named_param(name, p)
        c.reset_prefix_cache()
        first = os.path.join(self.dir, "policy-000001")
        self.assertEqual(self.policies(), ["policy-000001"])
        self.assertEqual(self.served(c), first)
        self.assertEqual(sorted(os.listdir(first)), ["config.json", "generation_config.json", "model.safetensors"])
        self.assertEqual(c.last_sync["path"], first)
        after = self.greedy(c)
        self.assertNotEqual(after, before)

        for name, p in FakeModel(base_tensors()).named_parameters():
            c.update_named_param(name, p)
        c.reset_prefix_cache()
        self.assertEqual(self.policies(), ["policy-000002"])  # the first one is gone once swapped out
        self.assertEqual(self.served(c), os.path.join(self.dir, "policy-000002"))
        self.assertEqual(self.greedy(c), before)

    def test_keep(self):
        c = aha_trl.AhaClient(base_url=self.server.url, checkpoint_dir=self.dir, keep=2)
        for _ in range(3):
            c.update_model_params(FakeModel(base_tensors()))
        self.assertEqual(self.policies(), ["policy-000002", "policy-000003"])

    def test_update_model_params_uses_save_pretrained(self):
        c = aha_trl.AhaClient(base_url=self.server.url, checkpoint_dir=self.dir)
        before = self.greedy(c)
        c.update_model_params(FakeModel(changed_tensors()))
        self.assertEqual(self.served(c), os.path.join(self.dir, "policy-000001"))
        self.assertNotEqual(self.greedy(c), before)

    def test_failed_load_raises_and_keeps_serving(self):
        c = aha_trl.AhaClient(base_url=self.server.url, checkpoint_dir=self.dir)
        c.update_model_params(FakeModel(changed_tensors()))
        served, before = self.served(c), self.greedy(c)
        broken = changed_tensors()
        del broken["model.layers.1.mlp.up_proj.weight"]
        for name, p in FakeModel(broken).named_parameters():
            c.update_named_param(name, p)
        with self.assertRaises(aha_trl.AhaWeightSyncError) as e:
            c.reset_prefix_cache()
        self.assertIn("model.layers.1.mlp.up_proj.weight is missing", str(e.exception))
        self.assertIn("policy-000002", str(e.exception))
        self.assertEqual(self.policies(), ["policy-000001"])  # the failed folder is removed
        self.assertEqual(self.served(c), served)
        self.assertEqual(self.greedy(c), before)

    def test_resumed_run_numbers_on_and_keeps_the_config(self):
        first = aha_trl.AhaClient(base_url=self.server.url, checkpoint_dir=self.dir)
        first.update_model_params(FakeModel(base_tensors()))
        # A new client while the server serves one of the folders it will
        # prune: its config must outlive that folder.
        c = aha_trl.AhaClient(base_url=self.server.url, checkpoint_dir=self.dir)
        for _ in range(2):
            for name, p in FakeModel(changed_tensors()).named_parameters():
                c.update_named_param(name, p)
            c.reset_prefix_cache()
        self.assertEqual(self.policies(), ["policy-000003"])
        self.assertEqual(self.served(c), os.path.join(self.dir, "policy-000003"))

    def test_config_dir(self):
        bad = tempfile.mkdtemp(dir=_tmp)
        with open(os.path.join(MODEL, "config.json")) as f:
            config = json.load(f)
        with open(os.path.join(bad, "config.json"), "w") as f:
            json.dump({**config, "hidden_size": 128}, f)
        c = aha_trl.AhaClient(base_url=self.server.url, checkpoint_dir=self.dir, config_dir=bad)
        for name, p in FakeModel(base_tensors()).named_parameters():
            c.update_named_param(name, p)
        with self.assertRaises(aha_trl.AhaWeightSyncError):
            c.sync()
        self.assertEqual(self.policies(), [])

    def test_urllib_session(self):
        saved = aha_trl._new_session
        aha_trl._new_session = aha_trl._Session
        try:
            c = aha_trl.AhaClient(base_url=self.server.url, checkpoint_dir=self.dir)
            c.init_communicator()
            self.assertEqual(len(self.greedy(c)), 8)
            c.update_model_params(FakeModel(changed_tensors()))
            self.assertEqual(self.served(c), os.path.join(self.dir, "policy-000001"))
            with self.assertRaisesRegex(RuntimeError, "400"):
                c.generate([PROMPT], max_tokens=-1)
        finally:
            aha_trl._new_session = saved


class TestUnreachable(unittest.TestCase):
    def test_check_server_times_out(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with self.assertRaisesRegex(ConnectionError, "cannot be reached"):
            aha_trl.AhaClient(base_url=f"http://127.0.0.1:{port}", connection_timeout=0.5, checkpoint_dir=_tmp)


# --- install() into TRL's module layout ---
#
# TRL cannot be installed here, so these modules stand in for the two parts of
# it that install() touches, with the same names: trl.generation.vllm_client
# (VLLMClient: needs vLLM to be built; generate and get_sequence_logprobs
# post over self.session as TRL's do) and
# trl.generation.vllm_generation (imports VLLMClient and is_vllm_available,
# and in server mode builds the client on the main process and calls
# init_communicator, as VLLMGeneration._init_vllm does).


def fake_trl():
    trl, gen = types.ModuleType("trl"), types.ModuleType("trl.generation")
    client_mod = types.ModuleType("trl.generation.vllm_client")
    vgen = types.ModuleType("trl.generation.vllm_generation")

    class VLLMClient:
        def __init__(self, base_url=None, host="0.0.0.0", server_port=8000, group_port=51216, connection_timeout=0.0):
            raise ImportError("vLLM is not installed")

        def generate(self, prompts, n=1, temperature=1.0, max_tokens=16, logprobs=0):
            r = self.session.post(f"{self.base_url}/generate/",
                                  json={"prompts": prompts, "n": n, "temperature": temperature,
                                        "max_tokens": max_tokens, "logprobs": logprobs, "images": None})
            if r.status_code != 200:
                raise Exception(f"Request failed: {r.status_code}, {r.text}")
            return {"completion_ids": r.json()["completion_ids"], "from": "trl"}

        def get_sequence_logprobs(self, sequences, prompt_lengths, top_logprobs=100, temperature=1.0):
            r = self.session.post(f"{self.base_url}/get_sequence_logprobs/",
                                  json={"sequences": sequences, "prompt_lengths": prompt_lengths,
                                        "top_logprobs": top_logprobs, "temperature": temperature})
            if r.status_code != 200:
                raise Exception(f"Request failed: {r.status_code}, {r.text}")
            return r.json()

    client_mod.VLLMClient = VLLMClient
    vgen.VLLMClient = VLLMClient
    vgen.is_vllm_available = lambda: False

    def init_server_mode(base_url):
        if not vgen.is_vllm_available():
            raise ImportError("vLLM is not available and `use_vllm` is set to True.")
        client = vgen.VLLMClient(base_url=base_url, group_port=51216, connection_timeout=240.0)
        client.init_communicator(device="cuda:0")
        return client

    vgen.init_server_mode = init_server_mode
    trl.generation, gen.vllm_client, gen.vllm_generation = gen, client_mod, vgen
    return {"trl": trl, "trl.generation": gen, "trl.generation.vllm_client": client_mod,
            "trl.generation.vllm_generation": vgen}


class TestInstall(TestCase):
    def setUp(self):
        super().setUp()
        mods = fake_trl()
        saved = {k: sys.modules.get(k) for k in mods}
        sys.modules.update(mods)

        def restore():
            aha_trl.uninstall()
            for k, v in saved.items():
                if v is None:
                    sys.modules.pop(k, None)
                else:
                    sys.modules[k] = v

        self.addCleanup(restore)
        self.vgen = mods["trl.generation.vllm_generation"]
        self.base = mods["trl.generation.vllm_client"].VLLMClient

    def test_trainer_builds_and_syncs_through_the_installed_client(self):
        with self.assertRaises(ImportError):
            self.vgen.init_server_mode(self.server.url)  # stock TRL without vLLM

        cls = aha_trl.install(checkpoint_dir=self.dir)
        self.assertIs(self.vgen.VLLMClient, cls)
        client = self.vgen.init_server_mode(self.server.url)
        self.assertIsInstance(client, self.base)
        self.assertEqual(client.checkpoint_dir, self.dir)
        self.assertEqual(client.generate([PROMPT])["from"], "trl")  # TRL's own generate
        before = self.greedy(client)
        for name, p in FakeModel(changed_tensors()).named_parameters():
            client.update_named_param(name, p)
        client.reset_prefix_cache()
        self.assertEqual(self.served(client), os.path.join(self.dir, "policy-000001"))
        self.assertNotEqual(self.greedy(client), before)
        # TRL's own methods run on the client's session.
        out = client.get_sequence_logprobs([[9707, 11, 1879]], [1], top_logprobs=2)
        self.assertEqual(len(out["logprobs"][0]), 2)

        aha_trl.uninstall()
        self.assertIs(self.vgen.VLLMClient, self.base)
        self.assertFalse(self.vgen.is_vllm_available())


if __name__ == "__main__":
    unittest.main()
