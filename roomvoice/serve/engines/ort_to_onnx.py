"""Convert ONNX Runtime ``.ort`` (flatbuffer) models back to ``.onnx`` (protobuf), with a cache.

Why: ONNX Runtime does not constant-fold an ORT-format model at load. Moonshine's ``.ort``
files (``moonshine-cpp==0.1.4``) keep their weights quantised and dequantise them inside the
graph, so every decoder step recomputes all of them. The same graph as ``.onnx`` is folded
once at load and decodes the same text ~4× faster (see
:mod:`roomvoice.serve.engines.moonshine`).

Format: an ``.ort`` file is a FlatBuffer with root ``InferenceSession`` → ``Model`` → ``Graph``
as defined by ONNX Runtime's schema ``onnxruntime/core/flatbuffers/schema/ort.fbs``
(microsoft/onnxruntime, MIT). The Python accessors generated from that schema ship inside the
``onnxruntime`` wheel (``onnxruntime.tools.ort_format_model.ort_flatbuffers_py.fbs``), so no
extra parser is needed; the ``onnx`` package writes the protobuf. The schema was made to
mirror ``onnx.proto``: ``TensorDataType`` and ``AttributeType`` use the same numbers as
``TensorProto.DataType`` and ``AttributeProto.AttributeType``, nodes keep op type, domain,
inputs, outputs and attributes, subgraphs (``If``/``Loop`` bodies) are ``Graph`` tables in
attributes. What ``onnx.proto`` has and ``ort.fbs`` does not (value info of intermediate
values) is left out; ONNX Runtime infers it again. ORT's own extras (saved runtime
optimisations, kernel type-string resolver) are dropped. Not supported, and reported as
:class:`OrtConversionError`: fused nodes (an EP-compiled graph), initializers stored in an
external file.

Entry points: :func:`convert_ort_to_onnx` (one file) and :func:`cached_onnx_dir` (a model
directory, converted once into a cache folder keyed by the source files' size and mtime,
published atomically).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx

logger = logging.getLogger(__name__)

CONVERTER_VERSION = 1
"""Part of the cache key: bump when the output of :func:`convert_ort_to_onnx` changes."""
CACHE_ENV = "ROOMVOICE_CACHE"
"""Environment variable naming the cache root (default ``~/.cache/roomvoice``)."""
STALE_S = 3600.0
"""A temporary cache folder older than this (seconds) was left by a killed process and is removed."""
MANIFEST = "source.json"
"""Written last into a cache folder: its presence marks the folder as complete."""

# ort.fbs enums (same numbers as onnx.proto where both have them)
_NODE_FUSED = 1  # NodeType.Fused
_TYPE_TENSOR, _TYPE_SEQUENCE, _TYPE_MAP = 1, 2, 3  # TypeInfoValue
_DIM_VALUE, _DIM_PARAM = 1, 2  # DimensionValueType


class OrtConversionError(ValueError):
    """The ``.ort`` file uses something this converter cannot write as ONNX, or the result is wrong."""


def default_cache_root() -> Path:
    """``$ROOMVOICE_CACHE`` if set, else ``~/.cache/roomvoice``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "roomvoice"


def convert_ort_to_onnx(src: str | Path, dst: str | Path, *, verify: bool = True) -> Path:
    """Write the ``.ort`` model ``src`` as an ONNX protobuf model ``dst``.

    ``dst`` is written under a temporary name and renamed into place, so a reader never
    sees half a file.

    Args:
        src: an ONNX Runtime ORT-format model (FlatBuffer, schema ``ort.fbs``).
        dst: the ``.onnx`` file to write (its directory must exist).
        verify: load ``dst`` in ONNX Runtime (graph optimisations off, so this is quick) and
            check that its inputs and outputs (names, element types, shapes) are those of
            ``src`` loaded the same way.

    Returns:
        ``dst`` as a :class:`~pathlib.Path`.

    Raises:
        OrtConversionError: unsupported content, or ``verify`` found a mismatch.
        OSError: ``src`` cannot be read or ``dst`` cannot be written.
        Exception: ``onnxruntime`` errors when ``verify`` cannot load a model.
    """
    import onnx
    from onnx import helper
    from onnxruntime.tools.ort_format_model.ort_flatbuffers_py import fbs

    src, dst = Path(src), Path(dst)
    buf = src.read_bytes()
    if not fbs.InferenceSession.InferenceSession.InferenceSessionBufferHasIdentifier(buf, 0):
        raise OrtConversionError(f"{src}: not an ORT-format model (no 'ORTM' file identifier)")
    session = fbs.InferenceSession.InferenceSession.GetRootAsInferenceSession(buf, 0)
    model = session.Model()
    if model is None or model.Graph() is None:
        raise OrtConversionError(f"{src}: ORT-format file without a model graph")
    graph = _graph(model.Graph(), "main_graph")
    opsets = [helper.make_opsetid(_str(model.OpsetImport(k).Domain()), model.OpsetImport(k).Version())
              for k in range(model.OpsetImportLength())]
    proto = helper.make_model(graph, opset_imports=opsets, ir_version=model.IrVersion())
    proto.producer_name = _str(model.ProducerName())
    proto.producer_version = _str(model.ProducerVersion())
    proto.domain = _str(model.Domain())
    proto.model_version = model.ModelVersion()
    proto.doc_string = _str(model.DocString())
    proto.graph.doc_string = _str(model.GraphDocString())
    props = {_str(model.MetadataProps(k).Key()): _str(model.MetadataProps(k).Value())
             for k in range(model.MetadataPropsLength())}
    props["roomvoice.converted_from"] = f"ORT format ({src.name}, onnxruntime {_str(session.OrtVersion())})"
    helper.set_model_props(proto, props)

    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        onnx.save_model(proto, str(tmp))
        if verify:
            _verify(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def cached_onnx_dir(src_dir: str | Path, stems: Sequence[str], *, cache_dir: str | Path) -> Path:
    """A folder with ``<stem>.onnx`` for each ``src_dir/<stem>.ort``, converted at most once.

    The result lives in ``cache_dir/<key>/``, where the key hashes the source files' names,
    sizes and mtimes and :data:`CONVERTER_VERSION`: a reinstalled or changed model gets a
    new folder. A folder counts as done when its :data:`MANIFEST` exists. A conversion is
    written into a temporary folder next to it and renamed into place, so two processes
    starting at once both succeed: the second rename finds the folder there and uses it.

    Args:
        src_dir: directory holding ``<stem>.ort`` files.
        stems: file names without ``.ort``, e.g. ``("encoder_model", "decoder_model_merged")``.
        cache_dir: folder for converted models (created if missing), e.g.
            ``default_cache_root() / "moonshine-base-en-onnx"``.

    Returns:
        The folder with the ``.onnx`` files.

    Raises:
        OrtConversionError, OSError, onnxruntime errors: as :func:`convert_ort_to_onnx`.
    """
    src_dir, cache_dir = Path(src_dir), Path(cache_dir)
    sources = [src_dir / f"{stem}.ort" for stem in stems]
    manifest = {"converter_version": CONVERTER_VERSION, "source_dir": str(src_dir),
                "files": [{"name": p.name, "size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns}
                          for p in sources]}
    key = hashlib.sha256(json.dumps([manifest["converter_version"], manifest["files"]]).encode()).hexdigest()[:16]
    target = cache_dir / key
    if _complete(target, stems):
        logger.debug("using converted model %s", target)
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale(cache_dir)
    t0 = time.perf_counter()
    logger.info("converting %d ORT-format model(s) in %s to ONNX (once) into %s ...", len(stems), src_dir, target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".tmp", dir=cache_dir))
    try:
        for source, stem in zip(sources, stems, strict=True):
            t1 = time.perf_counter()
            convert_ort_to_onnx(source, tmp / f"{stem}.onnx")
            logger.info("converted %s in %.1f s", source.name, time.perf_counter() - t1)
        manifest["converted_s"] = round(time.perf_counter() - t0, 3)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if target.exists() and not _complete(target, stems):  # left over from an interrupted or broken run
            remove_cached(target)
        try:
            os.rename(tmp, target)
        except OSError:
            if not _complete(target, stems):  # another process did not publish it either
                raise
            logger.info("another process converted %s first; using its copy", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("converted %s to ONNX in %.1f s: %s", src_dir, time.perf_counter() - t0, target)
    return target


def remove_cached(folder: str | Path) -> None:
    """Delete a cache folder written by :func:`cached_onnx_dir` (e.g. one that failed to load).

    It is first renamed aside, so a concurrent :func:`cached_onnx_dir` never sees half of it.
    Best effort: a folder that cannot be removed (permissions) is logged and left alone.
    """
    folder = Path(folder)
    aside = folder.with_name(f".{folder.name}.{os.getpid()}.removed")
    try:
        os.rename(folder, aside)
    except FileNotFoundError:
        return
    except OSError as exc:
        logger.info("cannot remove %s: %s", folder, exc)
        return
    shutil.rmtree(aside, ignore_errors=True)


def _remove_stale(cache_dir: Path) -> None:
    """Delete temporary folders that killed processes left behind (older than :data:`STALE_S`)."""
    now = time.time()
    for path in cache_dir.glob(".*"):
        try:
            if path.name.endswith((".tmp", ".removed")) and now - path.stat().st_mtime > STALE_S:
                shutil.rmtree(path, ignore_errors=True)
        except FileNotFoundError:  # another process removed it first
            continue


def _complete(folder: Path, stems: Sequence[str]) -> bool:
    return (folder / MANIFEST).is_file() and all((folder / f"{stem}.onnx").is_file() for stem in stems)


def _verify(src: Path, converted: Path) -> None:
    """Both models load in ONNX Runtime and have the same inputs and outputs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1

    def signature(path: Path) -> list[tuple[str, str, str, list[Any]]]:
        sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return ([("in", a.name, a.type, a.shape) for a in sess.get_inputs()]
                + [("out", a.name, a.type, a.shape) for a in sess.get_outputs()])

    expected, got = signature(src), signature(converted)
    if expected != got:
        raise OrtConversionError(f"{converted.name}: inputs/outputs differ from {src.name}: {got} != {expected}")


def _str(value: bytes | None) -> str:
    return value.decode("utf-8") if value else ""


def _tensor(t: Any) -> onnx.TensorProto:
    """``fbs.Tensor`` → ``TensorProto`` (raw little-endian bytes, or strings)."""
    from onnx import TensorProto

    if t.ExternalDataOffset() >= 0:
        raise OrtConversionError(f"initializer {_str(t.Name())!r} keeps its data in an external file")
    proto = TensorProto(name=_str(t.Name()), doc_string=_str(t.DocString()), data_type=t.DataType())
    proto.dims.extend(t.Dims(k) for k in range(t.DimsLength()))
    if t.StringDataLength():
        proto.string_data.extend(t.StringData(k) for k in range(t.StringDataLength()))
    elif t.RawDataLength():
        proto.raw_data = t.RawDataAsNumpy().tobytes()
    return proto


def _sparse_tensor(t: Any) -> onnx.SparseTensorProto:
    from onnx import SparseTensorProto

    proto = SparseTensorProto()
    proto.values.CopyFrom(_tensor(t.Values()))
    proto.indices.CopyFrom(_tensor(t.Indices()))
    proto.dims.extend(t.Dims(k) for k in range(t.DimsLength()))
    return proto


def _type(info: Any) -> onnx.TypeProto:
    """``fbs.TypeInfo`` → ``TypeProto`` (tensor, sequence or map)."""
    from onnx import TypeProto, helper
    from onnxruntime.tools.ort_format_model.ort_flatbuffers_py import fbs

    kind, table = info.ValueType(), info.Value()
    if kind == _TYPE_TENSOR:
        tensor = fbs.TensorTypeAndShape.TensorTypeAndShape()
        tensor.Init(table.Bytes, table.Pos)
        shape = tensor.Shape()
        dims: list[int | str | None] | None = None
        if shape is not None:
            dims = []
            for k in range(shape.DimLength()):
                value = shape.Dim(k).Value()
                if value is not None and value.DimType() == _DIM_VALUE:
                    dims.append(value.DimValue())
                elif value is not None and value.DimType() == _DIM_PARAM:
                    dims.append(_str(value.DimParam()))
                else:
                    dims.append(None)
        proto = helper.make_tensor_type_proto(tensor.ElemType(), dims)
    elif kind == _TYPE_SEQUENCE:
        sequence = fbs.SequenceType.SequenceType()
        sequence.Init(table.Bytes, table.Pos)
        proto = helper.make_sequence_type_proto(_type(sequence.ElemType()))
    elif kind == _TYPE_MAP:
        mapping = fbs.MapType.MapType()
        mapping.Init(table.Bytes, table.Pos)
        proto = helper.make_map_type_proto(mapping.KeyType(), _type(mapping.ValueType()))
    else:
        proto = TypeProto()  # type unknown: ONNX Runtime infers it
    if info.Denotation():
        proto.denotation = _str(info.Denotation())
    return proto


def _value_info(v: Any) -> onnx.ValueInfoProto:
    from onnx import ValueInfoProto

    proto = ValueInfoProto(name=_str(v.Name()), doc_string=_str(v.DocString()))
    if v.Type() is not None:
        proto.type.CopyFrom(_type(v.Type()))
    return proto


def _attribute(a: Any, owner: str) -> onnx.AttributeProto:
    """``fbs.Attribute`` → ``AttributeProto``; subgraphs are converted recursively."""
    from onnx import AttributeProto

    kind = a.Type()
    proto = AttributeProto(name=_str(a.Name()), doc_string=_str(a.DocString()), type=kind)
    if kind == AttributeProto.FLOAT:
        proto.f = a.F()
    elif kind == AttributeProto.INT:
        proto.i = a.I()
    elif kind == AttributeProto.STRING:
        proto.s = a.S() or b""
    elif kind == AttributeProto.TENSOR:
        proto.t.CopyFrom(_tensor(a.T()))
    elif kind == AttributeProto.GRAPH:
        proto.g.CopyFrom(_graph(a.G(), f"{owner}.{proto.name}"))
    elif kind == AttributeProto.FLOATS:
        proto.floats.extend(a.Floats(k) for k in range(a.FloatsLength()))
    elif kind == AttributeProto.INTS:
        proto.ints.extend(a.Ints(k) for k in range(a.IntsLength()))
    elif kind == AttributeProto.STRINGS:
        proto.strings.extend(a.Strings(k) for k in range(a.StringsLength()))
    elif kind == AttributeProto.TENSORS:
        proto.tensors.extend(_tensor(a.Tensors(k)) for k in range(a.TensorsLength()))
    elif kind == AttributeProto.GRAPHS:
        proto.graphs.extend(_graph(a.Graphs(k), f"{owner}.{proto.name}.{k}") for k in range(a.GraphsLength()))
    else:
        raise OrtConversionError(f"{owner}: attribute {proto.name!r} has unsupported type {kind}")
    return proto


def _graph(g: Any, name: str) -> onnx.GraphProto:
    """``fbs.Graph`` → ``GraphProto`` with its nodes in topological order (ONNX requires it)."""
    from onnx import GraphProto, NodeProto

    args = {_str(g.NodeArgs(k).Name()): g.NodeArgs(k) for k in range(g.NodeArgsLength())}
    stored = [g.Nodes(k) for k in range(g.NodesLength())]
    nodes: list[NodeProto] = []
    implicit: list[list[str]] = []  # outer-scope values each node's subgraphs read
    for n in sorted((n for n in stored if n is not None), key=lambda n: n.Index()):
        op = f"{_str(n.Domain()) or 'ai.onnx'}::{_str(n.OpType())}"
        if n.Type() == _NODE_FUSED:
            raise OrtConversionError(f"{name}: node {_str(n.Name())!r} ({op}) is a fused node")
        node = NodeProto(op_type=_str(n.OpType()), name=_str(n.Name()), domain=_str(n.Domain()),
                         doc_string=_str(n.DocString()))
        node.input.extend(_str(n.Inputs(j)) for j in range(n.InputsLength()))
        node.output.extend(_str(n.Outputs(j)) for j in range(n.OutputsLength()))
        node.attribute.extend(_attribute(n.Attributes(j), node.name or op) for j in range(n.AttributesLength()))
        nodes.append(node)
        implicit.append([_str(n.ImplicitInputs(j)) for j in range(n.ImplicitInputsLength())])

    def info(arg_name: str) -> onnx.ValueInfoProto:
        if arg_name not in args:
            raise OrtConversionError(f"{name}: graph input/output {arg_name!r} has no NodeArg")
        return _value_info(args[arg_name])

    proto = GraphProto(name=name)
    proto.node.extend(_topological(nodes, implicit))
    proto.initializer.extend(_tensor(g.Initializers(k)) for k in range(g.InitializersLength()))
    proto.sparse_initializer.extend(_sparse_tensor(g.SparseInitializers(k))
                                    for k in range(g.SparseInitializersLength()))
    proto.input.extend(info(_str(g.Inputs(k))) for k in range(g.InputsLength()))
    proto.output.extend(info(_str(g.Outputs(k))) for k in range(g.OutputsLength()))
    return proto


def _topological(nodes: list[onnx.NodeProto], implicit: list[list[str]]) -> list[onnx.NodeProto]:
    """``nodes`` reordered so every value is produced before it is used (stable otherwise).

    ``implicit[i]`` are the values node ``i``'s subgraphs read from this graph (``ort.fbs``
    ``Node.implicit_inputs``). Values no node of this graph produces (graph inputs,
    initializers, outer-scope values of a subgraph) count as available.
    """
    producer = {out: i for i, node in enumerate(nodes) for out in node.output if out}
    waiting = [0] * len(nodes)
    users: list[list[int]] = [[] for _ in nodes]
    for i, node in enumerate(nodes):
        for value in {v for v in (*node.input, *implicit[i]) if v in producer and producer[v] != i}:
            waiting[i] += 1
            users[producer[value]].append(i)
    ready = [i for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for user in users[i]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    if len(order) != len(nodes):
        raise OrtConversionError(f"graph has a cycle ({len(nodes) - len(order)} nodes never become ready)")
    return [nodes[i] for i in order]
