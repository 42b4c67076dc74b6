"""The expression catalogue: what ``/expressions`` answers and what ``execute`` runs.

Each expression names its inputs (``x``, ``y``: the ``dataValueTag.name`` a party gives its
input), says which shapes it takes and what shape it makes (``result_shape``: the same
answer on every party, since every party knows every input's shape after the exchange),
and computes on the engine's shares (``run``). Shapes are checked before any share moves,
so a mismatch is refused on every party with SHAPE_MISMATCH and nothing computed.

``less`` is offered only when the engine has it (``Semi2k.less``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from isthmus.wire.errors import SecopCode, SecopInvalid
from isthmus.wire.secure_operate import SEMI2K, Expression, ExpressionParam

Shape = tuple[int, ...]
Run = Callable[[Any, list[Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Spec:
    name: str
    inputs: tuple[str, ...]
    comment: str
    result_shape: Callable[[list[Shape]], Shape]
    run: Run
    needs: str = ""  # an engine method the expression needs, if optional

    def describe(self) -> Expression:
        demo = {"x": "[[1.0, 2.0], [3.0, 4.0]]", "y": "[[1.0], [2.0]]"}
        params = [
            ExpressionParam(
                param_key=name,
                type="tensor",
                comment=f"input {name!r}: {self.comment}",
                param_demo=demo.get(name, ""),
            )
            for name in self.inputs
        ]
        params.append(
            ExpressionParam(param_key="result", type="tensor", comment="the output", param_demo="")
        )
        return Expression(protocol_code=SEMI2K, expression=self.name, params=params)


def _mismatch(name: str, shapes: list[Shape], want: str) -> SecopInvalid:
    shown = " and ".join(str(list(s)) for s in shapes)
    return SecopInvalid(
        f"{name}: shapes {shown} do not fit ({want})",
        SecopCode.SHAPE_MISMATCH,
        details={"shapes": [list(s) for s in shapes]},
    )


def _same(name: str) -> Callable[[list[Shape]], Shape]:
    def shape(shapes: list[Shape]) -> Shape:
        if shapes[0] != shapes[1]:
            raise _mismatch(name, shapes, "the same shape")
        return shapes[0]

    return shape


def _matmul_shape(shapes: list[Shape]) -> Shape:
    x, y = shapes
    if len(x) != 2 or len(y) != 2 or x[1] != y[0]:
        raise _mismatch("matmul", shapes, "(m, k) and (k, n)")
    return (x[0], y[1])


def _mvm_shape(shapes: list[Shape]) -> Shape:
    x, y = shapes
    if len(x) != 2 or len(y) != 1 or x[1] != y[0]:
        raise _mismatch("mvm", shapes, "(m, k) and (k,)")
    return (x[0],)


def _dot_shape(shapes: list[Shape]) -> Shape:
    x, y = shapes
    if len(x) != 1 or x != y:
        raise _mismatch("dot", shapes, "(n,) and (n,)")
    return ()


def _any(shapes: list[Shape]) -> Shape:
    return shapes[0]


def reshape(x: Any, shape: Shape) -> Any:
    """A share with another logical shape (ring 128 keeps its trailing limb axis)."""
    trailing = tuple(x.share.shape[len(x.shape) :])
    return type(x)(share=x.share.reshape(shape + trailing), shape=shape)


async def _add(engine: Any, args: list[Any]) -> Any:
    return engine.add(args[0], args[1])


async def _sub(engine: Any, args: list[Any]) -> Any:
    return engine.sub(args[0], args[1])


async def _mul(engine: Any, args: list[Any]) -> Any:
    return await engine.mul(args[0], args[1])


async def _matmul(engine: Any, args: list[Any]) -> Any:
    return await engine.matmul(args[0], args[1])


async def _mvm(engine: Any, args: list[Any]) -> Any:
    x, y = args
    column = reshape(y, (y.shape[0], 1))
    out = await engine.matmul(x, column)
    return reshape(out, (x.shape[0],))


async def _dot(engine: Any, args: list[Any]) -> Any:
    x, y = args
    row, column = reshape(x, (1, x.shape[0])), reshape(y, (y.shape[0], 1))
    return reshape(await engine.matmul(row, column), ())


async def _sum(engine: Any, args: list[Any]) -> Any:
    return engine.sum(args[0], None)


async def _sigmoid(engine: Any, args: list[Any]) -> Any:
    return await engine.sigmoid(args[0])


async def _less(engine: Any, args: list[Any]) -> Any:
    return await engine.less(args[0], args[1])


SPECS: tuple[Spec, ...] = (
    Spec("add", ("x", "y"), "x + y, elementwise, same shape", _same("add"), _add),
    Spec("sub", ("x", "y"), "x - y, elementwise, same shape", _same("sub"), _sub),
    Spec("mul", ("x", "y"), "x * y, elementwise, same shape", _same("mul"), _mul),
    Spec("mvm", ("x", "y"), "matrix (m, k) times vector (k,)", _mvm_shape, _mvm),
    Spec("matmul", ("x", "y"), "matrix (m, k) times matrix (k, n)", _matmul_shape, _matmul),
    Spec("dot", ("x", "y"), "inner product of two (n,) vectors", _dot_shape, _dot),
    Spec("sum", ("x",), "the sum of all elements", lambda s: (), _sum),
    Spec("sigmoid", ("x",), "minimax_1: 0.5 + 0.125 x, elementwise", _any, _sigmoid),
    Spec("less", ("x", "y"), "1 where x < y else 0, same shape", _same("less"), _less, "less"),
)


def catalogue(engine_class: type | None = None) -> dict[str, Spec]:
    """The expressions this build can run: those whose optional engine method exists."""
    return {
        spec.name: spec
        for spec in SPECS
        if not spec.needs or (engine_class is not None and hasattr(engine_class, spec.needs))
    }


def lookup(name: str, specs: dict[str, Spec]) -> Spec:
    spec = specs.get(str(name).strip().lower())
    if spec is None:
        raise SecopInvalid(
            f"expression {str(name)[:40]!r} is not one of {sorted(specs)}",
            SecopCode.UNKNOWN_EXPRESSION,
        )
    return spec
