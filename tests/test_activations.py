"""hat.activations: the numpy functions, name resolution, and a user's registered activations."""

import numpy as np
import pytest

from hat import activations
from hat.kernels import activations as kernels
from tests.helpers import reference as ref


@pytest.mark.parametrize("name", ref.ACTIVATION_NAMES)
def test_numpy_functions_match_the_reference(name):
    x = 3 * np.random.default_rng(0).standard_normal((4, 6))
    np.testing.assert_allclose(getattr(activations, name)(x), ref.activation(name, x), rtol=1e-12)


def test_softmax_runs_along_the_last_axis_and_is_stable():
    x = np.array([[[1000.0, 1001.0], [0.0, 0.0]]])
    y = activations.softmax(x)
    np.testing.assert_allclose(y, ref.softmax(x))
    np.testing.assert_allclose(y.sum(axis=-1), 1.0)


def test_leaky_relu_uses_hats_slope():
    assert activations.leaky_relu(np.array([-1.0]))[0] == pytest.approx(-0.2)
    assert activations.get("leaky_relu").alpha == pytest.approx(0.2)


@pytest.mark.parametrize(
    "name, code",
    [
        ("linear", kernels.LINEAR),
        ("relu", kernels.RELU),
        ("leaky_relu", kernels.LEAKY_RELU),
        ("sigmoid", kernels.SIGMOID),
        ("hard_sigmoid", kernels.HARD_SIGMOID),
        ("tanh", kernels.TANH),
        ("softmax", kernels.SOFTMAX),
    ],
)
def test_names_and_functions_resolve_to_the_kernel_codes(name, code):
    spec = activations.get(name)
    assert spec.name == name and spec.code == code and spec.is_builtin
    assert activations.get(getattr(activations, name)) == spec
    assert activations.get(spec) is spec


def test_names_lists_every_builtin():
    assert set(ref.ACTIVATION_NAMES) <= set(activations.names())


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError) as err:
        activations.get("gelu")
    assert "'gelu'" in str(err.value)
    for name in ref.ACTIVATION_NAMES:
        assert name in str(err.value)


def test_unregistered_callable_is_a_type_error_that_mentions_register():
    with pytest.raises(TypeError, match=r"hat\.activations\.register"):
        activations.get(np.exp)


@pytest.mark.parametrize("act", [3, None, 1.5])
def test_neither_name_nor_callable_is_a_type_error(act):
    with pytest.raises(TypeError, match="act must be a name or a callable"):
        activations.get(act)


def test_register_makes_a_function_usable_by_itself_and_by_name():
    def test_act_cube(x):
        return x**3

    def cube_grad(x, y, dy):
        return 3 * x**2 * dy

    assert activations.register(test_act_cube, cube_grad) is test_act_cube
    spec = activations.get(test_act_cube)
    assert spec.name == "test_act_cube" and not spec.is_builtin
    assert activations.get("test_act_cube") is spec
    assert "test_act_cube" in activations.names()
    x = np.array([2.0])
    assert spec.forward(x)[0] == 8.0 and spec.backward(x, None, np.ones(1))[0] == 12.0


def test_register_under_a_given_name():
    activations.register(lambda x: 2 * x, lambda x, y, dy: 2 * dy, name="test_act_double")
    assert activations.get("test_act_double").forward(np.array([1.5]))[0] == 3.0


def test_register_rejects_builtin_names_and_non_callables():
    with pytest.raises(ValueError, match="built in"):
        activations.register(lambda x: x, lambda x, y, dy: dy, name="relu")
    with pytest.raises(TypeError, match="two callables"):
        activations.register(lambda x: x, "grad")
