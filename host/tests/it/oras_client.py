"""An outside OCI client for the registry tests (oras-py), independent of baton.

  oras_client.py push REF FILE LAYER_MEDIA_TYPE   pushes FILE as the one layer, wasm config
  oras_client.py pull REF OUTDIR                  pulls the layers into OUTDIR

REF is `host:port/repository:tag` on a plain-HTTP loopback registry. Basic
auth comes from ORAS_USER / ORAS_PASSWORD when set.
"""

import json
import os
import sys
import tempfile

import oras.client


def client(ref):
    host = ref.split("/")[0]
    if os.environ.get("ORAS_USER"):
        c = oras.client.OrasClient(hostname=host, insecure=True, auth_backend="basic")
        c.auth.set_basic_auth(os.environ["ORAS_USER"], os.environ["ORAS_PASSWORD"])
        return c
    return oras.client.OrasClient(hostname=host, insecure=True)


def push(ref, path, media_type):
    config = {"architecture": "wasm", "os": "wasip2", "layerDigests": [], "component": {}}
    with tempfile.TemporaryDirectory() as tmp:
        config_path = os.path.join(tmp, "config.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        client(ref).push(
            target=ref,
            files=[f"{path}:{media_type}"],
            manifest_config=f"{config_path}:application/vnd.wasm.config.v0+json",
            disable_path_validation=True,
            quiet=True,
        )


def pull(ref, outdir):
    for f in client(ref).pull(target=ref, outdir=outdir):
        print(f)


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"push": push, "pull": pull}[cmd](*args)
