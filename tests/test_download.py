import pytest

from stages.common import StageError
from stages.download import ENV_VAR, HttpSource, LocalSource, default_sources, download, size_cap


def test_local_directory_files_are_verified_and_written(tiny_files, tmp_path):
    source_dir, specs = tiny_files
    dest = tmp_path / "raw"
    download([LocalSource(source_dir)], dest, specs)
    assert sorted(p.name for p in dest.iterdir()) == sorted(s.name for s in specs)
    for spec in specs:
        assert (dest / spec.name).read_bytes() == (source_dir / spec.name).read_bytes()


def test_http_mirror_is_used(tiny_files, tmp_path, http_server):
    source_dir, specs = tiny_files
    dest = tmp_path / "raw"
    url = http_server(source_dir)
    assert str(download([HttpSource(url)], dest, specs)) == url
    assert len(list(dest.iterdir())) == 4


def test_a_mirror_that_404s_is_skipped_for_the_next(tiny_files, tmp_path, http_server):
    source_dir, specs = tiny_files
    empty = tmp_path / "empty"
    empty.mkdir()
    missing, good = http_server(empty), http_server(source_dir)
    log = tmp_path / "log"
    with log.open("w") as stream:
        used = download([HttpSource(missing), HttpSource(good)], tmp_path / "raw", specs, log=stream)
    assert str(used) == good
    assert "HTTP 404" in log.read_text()


def test_a_mirror_serving_corrupt_bytes_is_skipped_and_writes_nothing(tiny_files, tmp_path, http_server):
    source_dir, specs = tiny_files
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for spec in specs:
        data = bytearray((source_dir / spec.name).read_bytes())
        data[-12] ^= 0xFF  # inside the deflate stream or its CRC
        (corrupt / spec.name).write_bytes(bytes(data))
    dest = tmp_path / "raw"
    with pytest.raises(StageError) as error:
        download([HttpSource(http_server(corrupt))], dest, specs)
    assert "no source gave verified Fashion-MNIST files" in str(error.value)
    assert "apt-get install dataset-fashion-mnist" in str(error.value)
    assert not dest.exists() or not any(dest.iterdir())


def test_an_unreachable_mirror_is_reported(tiny_files, tmp_path):
    _, specs = tiny_files
    # Port 9 (discard) on loopback: nothing listens there, so the connection is refused.
    with pytest.raises(StageError, match="unreachable"):
        download([HttpSource("http://127.0.0.1:9/")], tmp_path / "raw", specs)


def test_one_bad_file_writes_none_of_the_others(tiny_files, tmp_path):
    source_dir, specs = tiny_files
    (source_dir / specs[-1].name).write_bytes(b"not gzip at all")
    dest = tmp_path / "raw"
    with pytest.raises(StageError, match="not a gzip file"):
        download([LocalSource(source_dir)], dest, specs)
    assert not dest.exists() or not any(dest.iterdir())


def test_every_failed_source_is_listed(tiny_files, tmp_path):
    _, specs = tiny_files
    with pytest.raises(StageError) as error:
        download([LocalSource(tmp_path / "a"), LocalSource(tmp_path / "b")], tmp_path / "raw", specs)
    message = str(error.value)
    assert str(tmp_path / "a") in message
    assert str(tmp_path / "b") in message
    assert "\n" not in message


def test_the_environment_variable_is_the_only_source(tmp_path):
    sources, explicit = default_sources({ENV_VAR: str(tmp_path)})
    assert explicit
    assert [str(s) for s in sources] == [str(tmp_path)]


def test_without_the_variable_debian_comes_before_the_mirrors():
    sources, explicit = default_sources({})
    assert not explicit
    assert str(sources[0]) == "/usr/share/datasets/fashion-mnist"
    assert all(isinstance(s, HttpSource) and s.base_url.startswith("https://") for s in sources[1:])


def test_an_explicit_directory_that_fails_stops_the_search(tiny_files, tmp_path):
    source_dir, specs = tiny_files
    (source_dir / specs[0].name).unlink()
    with pytest.raises(StageError, match=f"^{ENV_VAR}="):
        download([LocalSource(source_dir), LocalSource(source_dir)], tmp_path / "raw", specs, explicit=True)


def test_a_local_file_past_the_cap_is_cut_off(tiny_files, tmp_path):
    source_dir, specs = tiny_files
    cap = size_cap(specs)
    (source_dir / specs[0].name).write_bytes(bytes(cap + 1))
    with pytest.raises(StageError, match=f"{specs[0].name}: more than {cap} bytes, cut off there"):
        download([LocalSource(source_dir)], tmp_path / "raw", specs)
    assert not (tmp_path / "raw").exists()


def test_a_failed_source_leaves_earlier_files_as_they_were_and_no_temporary_ones(tiny_files, tmp_path):
    source_dir, specs = tiny_files
    dest = tmp_path / "raw"
    download([LocalSource(source_dir)], dest, specs)
    before = {p.name: p.read_bytes() for p in dest.iterdir()}
    (source_dir / specs[-1].name).write_bytes(b"not gzip at all")
    with pytest.raises(StageError, match="not a gzip file"):
        download([LocalSource(source_dir)], dest, specs)
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == before
