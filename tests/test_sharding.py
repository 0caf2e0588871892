"""The batch split over two (fake CPU) devices gives the numbers of the unsharded run (to float32
rounding)."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import jax, numpy as np
    assert len(jax.devices()) == 2, jax.devices()
    from nffit import JansenRitParams, load_connectome, make_simulator
    from nffit.sharding import shard_batch

    sim = make_simulator(load_connectome("tvb76"), duration_ms=300.0, transient_ms=0.0, fs=250.0)
    keys = jax.random.split(jax.random.key(0), 4)
    params = JansenRitParams(G=np.array([0.5, 1.0, 1.5, 2.0], np.float32))
    plain = sim.run(keys, params).lfp
    sharded = sim.run(shard_batch(keys), shard_batch(params)).lfp
    assert len(sharded.sharding.device_set) == 2, sharded.sharding
    # float32 rounding only: XLA vectorises a per-device batch of 2 differently from one of 4
    np.testing.assert_allclose(np.asarray(plain), np.asarray(sharded), rtol=1e-4, atol=1e-4)

    print("ok")
""")


def test_two_devices_give_the_unsharded_numbers():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
