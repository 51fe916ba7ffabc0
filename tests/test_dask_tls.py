"""Dask over TLS: a real TLS LocalCluster on loopback, certificates made by a throwaway CA.

The scheduler and its two worker processes accept only TLS connections from
certificates signed by that CA; ``shardvec train`` joins them with the client
certificate named by ``[dask] tls_*`` (from ``--set`` and ``SHARDVEC_DASK__*``)
or by Dask's own configuration, and every way of getting it wrong is one line
and exit 2.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from helpers import gensim_data, prepared_corpus, small_config

from shardvec.cli import main
from shardvec.config import DaskConfig
from shardvec.dask.cluster import dask_client

SMALL_TRAIN = ["--set", "train.vector_size=32", "--set", "train.epochs=1", "--set", "train.rounds_per_epoch=2",
               "--set", "train.evaluate=false"]


# ------------------------------------------------------------------ certificates
@dataclass(frozen=True)
class Pair:
    """A certificate and its key, as PEM files."""

    cert: Path
    key: Path


def _write_pair(directory: Path, name: str, key, cert) -> Pair:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    pair = Pair(directory / f"{name}.pem", directory / f"{name}.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pair.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return pair


def _certificate(subject: str, public_key, issuer: str, signing_key, ca: bool):  # type: ignore[no-untyped-def]
    """An X.509 certificate valid for a day, for 127.0.0.1 and localhost unless it is a CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def make_ca(directory: Path, name: str, leaves: tuple[str, ...]) -> tuple[Pair, dict[str, Pair]]:
    """A self-signed CA and a certificate signed by it for each of ``leaves``."""
    from cryptography.hazmat.primitives.asymmetric import ec

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _write_pair(directory, name, ca_key, _certificate(name, ca_key.public_key(), name, ca_key, ca=True))
    signed = {}
    for leaf in leaves:
        key = ec.generate_private_key(ec.SECP256R1())
        signed[leaf] = _write_pair(directory, leaf, key, _certificate(leaf, key.public_key(), name, ca_key, ca=False))
    return ca, signed


@dataclass(frozen=True)
class Certs:
    ca: Pair
    server: Pair
    client: Pair
    other_ca: Pair  # a CA the cluster does not know
    stranger: Pair  # a client certificate signed by other_ca


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    directory = tmp_path_factory.mktemp("tls")
    ca, signed = make_ca(directory, "ca", ("server", "client"))
    other_ca, strangers = make_ca(directory, "other-ca", ("stranger",))
    return Certs(ca, signed["server"], signed["client"], other_ca, strangers["stranger"])


# ------------------------------------------------------------------ cluster and corpus
@pytest.fixture(scope="module")
def tls_scheduler(certs: Certs) -> Iterator[str]:
    """The address of a TLS-only LocalCluster: a scheduler and 2 worker processes on 127.0.0.1."""
    from distributed import LocalCluster
    from distributed.security import Security

    server = {f"tls_{role}_{part}": str(getattr(certs.server, part))
              for role in ("scheduler", "worker", "client") for part in ("cert", "key")}
    security = Security(tls_ca_file=str(certs.ca.cert), require_encryption=True, **server)
    with LocalCluster(protocol="tls", security=security, host="127.0.0.1", n_workers=2, threads_per_worker=1,
                      dashboard_address=":0") as cluster:
        assert cluster.scheduler_address.startswith("tls://127.0.0.1:")
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def corpus(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = small_config()
    config.prepare.lineage = False  # not needed here; saves a Spark job
    root = tmp_path_factory.mktemp("tls-corpus")
    return prepared_corpus(config, [gensim_data("lee_background.cor")], root / "corpus")


def train(corpus: Path, output: Path, *args: str) -> int:
    return main(["train", "--corpus", str(corpus), "--output", str(output), *SMALL_TRAIN, *args])


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shardvec: error: "), err
    return lines[0]


# ------------------------------------------------------------------ tests
def test_train_joins_a_tls_scheduler_with_the_dask_tls_keys(
        corpus: Path, tls_scheduler: str, certs: Certs, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Spark prepares the corpus before the cluster's workers start, not beside them on a small machine.
    # The CA from --set, the client certificate and key from the environment (as a Kubernetes Secret would).
    monkeypatch.setenv("SHARDVEC_DASK__TLS_CERT", str(certs.client.cert))
    monkeypatch.setenv("SHARDVEC_DASK__TLS_KEY", str(certs.client.key))
    out = tmp_path / "vectors"
    assert train(corpus, out, "--scheduler", tls_scheduler, "--set", f"dask.tls_ca_file={certs.ca.cert}") == 0
    err = capsys.readouterr().err
    assert f"[train] Dask scheduler {tls_scheduler} " in err
    assert "PRIVATE KEY" not in err
    assert (out / "_SUCCESS").is_file() and (out / "vectors.bin").stat().st_size > 0
    report = json.loads((out / "train_report.json").read_text())
    assert report["workers"] == 2
    assert report["config"]["dask"]["tls_key"] == str(certs.client.key)  # the path, never the key itself
    assert "PRIVATE KEY" not in (out / "train_report.json").read_text()


def test_dask_configuration_provides_the_certificates_when_the_keys_are_empty(
        tls_scheduler: str, certs: Certs) -> None:
    import dask

    settings = {"distributed.comm.tls.ca-file": str(certs.ca.cert),
                "distributed.comm.tls.client.cert": str(certs.client.cert),
                "distributed.comm.tls.client.key": str(certs.client.key)}
    with dask.config.set(settings), dask_client(DaskConfig(scheduler=tls_scheduler)) as client:
        assert client.submit(sum, [1, 2]).result() == 3


def loader_certificates(info: dict[str, str]):  # type: ignore[no-untyped-def]
    """A ``distributed.client.security-loader``: the client certificate the test put in ``LOADED``."""
    from distributed.security import Security

    assert info["address"].startswith("tls://")
    return Security(require_encryption=True, **LOADED)


LOADED: dict[str, str] = {}


def test_a_dask_security_loader_provides_the_certificates_when_the_keys_are_empty(
        tls_scheduler: str, certs: Certs, monkeypatch: pytest.MonkeyPatch) -> None:
    import dask

    monkeypatch.setattr(sys.modules[__name__], "LOADED", {
        "tls_ca_file": str(certs.ca.cert), "tls_client_cert": str(certs.client.cert),
        "tls_client_key": str(certs.client.key)})
    loader = {"distributed.client.security-loader": f"{__name__}.loader_certificates"}
    with dask.config.set(loader), dask_client(DaskConfig(scheduler=tls_scheduler)) as client:
        assert client.submit(sum, [1, 2]).result() == 3


def test_tls_address_without_certificates_is_one_line_exit_2(
        tls_scheduler: str, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train(corpus, tmp_path / "vectors", "--scheduler", tls_scheduler) == 2
    line = one_line_error(capsys)
    assert tls_scheduler in line and "dask.tls_ca_file" in line and "distributed.comm.tls" in line


def test_certificates_of_another_ca_are_refused_in_one_line(
        tls_scheduler: str, corpus: Path, certs: Certs, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code = train(corpus, tmp_path / "vectors", "--scheduler", tls_scheduler,
                 "--set", f"dask.tls_ca_file={certs.other_ca.cert}", "--set", f"dask.tls_cert={certs.stranger.cert}",
                 "--set", f"dask.tls_key={certs.stranger.key}")
    assert code == 2
    line = one_line_error(capsys)
    assert f"cannot reach the Dask scheduler at {tls_scheduler}: TLS certificate does not match" in line
    assert "certificate verify failed" in line  # the cause, from the TLS handshake


@pytest.mark.parametrize("sets, message", [
    (["tls_cert=missing.pem"], "dask.tls_cert: no such file: missing.pem"),
    (["tls_key=missing.key"], "dask.tls_key: no such file: missing.key"),
    (["tls_ca_file=missing-ca.pem"], "dask.tls_ca_file: no such file: missing-ca.pem"),
    (["tls_ca_file=", "tls_key="], "dask.tls_ca_file is not set"),
    (["tls_key={server_key}"], "dask.tls_key cannot be loaded for TLS"),  # the key of another certificate
    (["scheduler=tcp://127.0.0.1:1"], "not tls://HOST:PORT: tcp://127.0.0.1:1"),
])
def test_tls_setting_mistakes_name_the_key(
        sets: list[str], message: str, tls_scheduler: str, corpus: Path, certs: Certs, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    good = {"scheduler": tls_scheduler, "tls_ca_file": certs.ca.cert, "tls_cert": certs.client.cert,
            "tls_key": certs.client.key}
    settings = [f"{key}={value}" for key, value in good.items()]
    settings += [item.format(server_key=certs.server.key) for item in sets]  # later --set wins
    assert train(corpus, tmp_path / "vectors", *(a for s in settings for a in ("--set", f"dask.{s}"))) == 2
    assert message in one_line_error(capsys)
