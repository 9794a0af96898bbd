"""Attribute-guided latent arithmetic: the query language, exemplar choice, the verdict."""

from __future__ import annotations

import types

import numpy as np
import pytest
from ganlab_builtins.latent import guided as G
from ganlab_builtins.latent import queries as Q
from ganlab_builtins.latent.exemplars import LatentSpecError
from ganlab_builtins.latent.expression import parse_expression
from ganlab_builtins.latent.layout import ArithmeticLayout
from ganlab_builtins.latent.spec import ArithmeticSpec, parse_query_option

ATTRIBUTES = ["Eyeglasses", "Male", "Smiling", "5_o_Clock_Shadow"]
DIGITS = [str(d) for d in range(10)]


def bound(text, names=ATTRIBUTES, multi_label=True):
    return Q.bind_query(Q.parse_query(text), names, multi_label)


# -- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("Eyeglasses & Male", "And(Eyeglasses, Male)"),
    ("Male & !Eyeglasses", "And(Male, Not(Eyeglasses))"),
    ("!Male & (Smiling | Eyeglasses)", "And(Not(Male), Or(Smiling, Eyeglasses))"),
    ("a | b & c", "Or(a, And(b, c))"),  # & binds tighter than |
    ("!!a", "Not(Not(a))"),
    ("7", "7"),
    (" 3 | 8 ", "Or(3, 8)"),
    ("5_o_Clock_Shadow", "5_o_Clock_Shadow"),
])
def test_queries_parse_with_precedence(text, expected):
    def show(node):
        if isinstance(node, Q.Atom):
            return node.name
        if isinstance(node, Q.Not):
            return f"Not({show(node.operand)})"
        return f"{type(node).__name__}({', '.join(show(o) for o in node.operands)})"

    assert show(Q.parse_query(text).root) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("", "the query is empty"),
    ("Male &", "at character 7: the query ends where a label was expected"),
    ("& Male", "at character 1: expected a label, got '&'"),
    ("Male Smiling", "at character 6: unexpected 'Smiling'"),
    ("(Male", "at character 6: expected '\\)'"),
    ("Male)", "at character 5: unexpected '\\)'"),
    ("Male²", "at character 5: unexpected character '²'"),
    ("label == 7", "at character 7: unexpected character '='"),
    ("__import__('os')", "at character 11: unexpected '\\('"),
    ("a" * 201, "201 characters long; at most 200"),
])
def test_bad_queries_name_the_position(text, message):
    with pytest.raises(LatentSpecError, match=message):
        Q.parse_query(text)


def test_unknown_labels_list_the_known_ones_with_a_suggestion():
    with pytest.raises(LatentSpecError, match=r"unknown attribute 'eyeglases'.*character 1.*"
                                              r"did you mean 'Eyeglasses'.*Eyeglasses, Male, "
                                              r"Smiling, 5_o_Clock_Shadow"):
        bound("eyeglases & Male")
    with pytest.raises(LatentSpecError, match=r"unknown class '12'.*0, 1, 2"):
        bound("12", DIGITS, multi_label=False)


def test_class_numbers_are_names_or_indices():
    assert bound("7", DIGITS, False).columns == {"7": 7}
    named = ["zero", "one", "two"]
    assert bound("2 | one", named, False).columns == {"2": 2, "one": 1}
    with pytest.raises(LatentSpecError, match="unknown attribute '1'"):
        bound("1")  # multi-label: attributes are named, never numbered


# -- meaning ----------------------------------------------------------------------------------


def test_multi_label_match_thresholds_and_fuzzy_confidence():
    probabilities = np.array([[0.9, 0.2, 0.5, 0.0],   # glasses, woman
                              [0.9, 0.7, 0.5, 0.0],   # glasses, man
                              [0.4, 0.1, 0.5, 0.0],   # no glasses, woman
                              [0.6, 0.45, 0.5, 0.0]])
    confidence, matches = bound("Eyeglasses & !Male").evaluate(probabilities)
    np.testing.assert_allclose(confidence, [0.8, 0.3, 0.4, 0.55])
    assert matches.tolist() == [True, False, False, True]
    confidence, matches = bound("Male | !Eyeglasses").evaluate(probabilities)
    np.testing.assert_allclose(confidence, [0.2, 0.7, 0.6, 0.45])
    assert matches.tolist() == [False, True, True, False]
    # Confidence above 0.5 exactly when it matches.
    assert ((confidence > 0.5) == matches).all()


def test_single_label_queries_are_sets_of_classes():
    query = bound("7 | 1", DIGITS, False)
    assert query.classes() == [1, 7]
    assert bound("!7", DIGITS, False).classes() == [0, 1, 2, 3, 4, 5, 6, 8, 9]
    assert bound("7 & 1", DIGITS, False).classes() == []
    probabilities = np.full((3, 10), 0.05)
    probabilities[0, 7], probabilities[1, 1], probabilities[2, 3] = 0.55, 0.3, 0.55
    confidence, matches = query.evaluate(probabilities)
    np.testing.assert_allclose(confidence, [0.6, 0.35, 0.1])
    # Row 1's likeliest class is 1 (0.3 against 0.05s): it matches with a low confidence.
    assert matches.tolist() == [True, True, False]


def test_exemplars_are_the_most_confident_matches():
    query = bound("Eyeglasses & Male")
    probabilities = np.zeros((6, 4))
    probabilities[:, 0] = [0.9, 0.6, 0.99, 0.2, 0.8, 0.7]   # Eyeglasses
    probabilities[:, 1] = [0.7, 0.95, 0.4, 0.9, 0.55, 0.9]  # Male
    choice = G.choose_exemplars(query, probabilities, 3)
    # min(E, M): 0.7, 0.6, 0.4 (no match), 0.2 (no), 0.55, 0.7 → 0 and 5 tie, then 1.
    assert choice.indices.tolist() == [0, 5, 1] and choice.matching == 3
    short = G.choose_exemplars(query, probabilities, 5)
    assert short.indices.tolist() == [0, 5, 1, 4, 2] and short.matching == 4


def test_pool_latents_are_seed_exemplars():
    from ganlab.latents import sample_latents

    pool = G.Pool.draw(5, 100, 8, "normal")
    assert pool.label(3) == "s103"
    np.testing.assert_array_equal(pool.latents[3], sample_latents(1, 8, "normal", 103)[0])


def test_verdict_line():
    verdict = G.Verdict("Eyeglasses & !Male", matched=7, total=9, baseline=0.0612,
                        pool_size=2000)
    assert verdict.line() == ("result matches 'Eyeglasses & !Male': 7/9 (78 %); random "
                              "latents: 6 %")
    expect = bound("Eyeglasses & !Male")
    result = np.array([[0.9, 0.1, 0, 0], [0.9, 0.9, 0, 0], [0.1, 0.1, 0, 0]])
    pool = np.array([[0.9, 0.1, 0, 0]] + [[0.1, 0.9, 0, 0]] * 3)
    judged = G.judge(expect, result, pool)
    assert (judged.matched, judged.total, judged.baseline) == (1, 3, 0.25)


# -- the expected query ------------------------------------------------------------------------


def classifier(names, multi_label):
    return types.SimpleNamespace(label_names=names, multi_label=multi_label)


def test_the_papers_expectation_is_derived():
    queries = {"glasses_man": bound("Eyeglasses & Male"), "man": bound("Male & !Eyeglasses"),
               "woman": bound("!Male & !Eyeglasses")}
    expression = parse_expression("glasses_man - man + woman")
    derived = G.derive_expectation(expression, queries, classifier(ATTRIBUTES, True))
    assert derived.text == "Eyeglasses & !Male"
    # A label whose coefficients cancel drops out.
    assert G.derive_expectation(parse_expression("glasses_man - man"), queries,
                                classifier(ATTRIBUTES, True)).text == "Eyeglasses"


def test_digit_expectation_is_the_classes_with_a_positive_sum():
    queries = {name: bound(digit, DIGITS, False)
               for name, digit in (("seven", "7"), ("one", "1"), ("zero", "0"))}
    derived = G.derive_expectation(parse_expression("seven - one + zero"), queries,
                                   classifier(DIGITS, False))
    assert derived.text == "7 | 0" and derived.classes() == [0, 7]


def test_no_expectation_without_conjunctions():
    queries = {"a": bound("Male | Smiling"), "b": bound("Male")}
    assert G.derive_expectation(parse_expression("a - b"), queries,
                                classifier(ATTRIBUTES, True)) is None
    assert G.derive_expectation(parse_expression("b - b"), {"b": bound("Male")},
                                classifier(ATTRIBUTES, True)) is None


# -- the spec ---------------------------------------------------------------------------------


def test_spec_mixes_exemplar_and_query_concepts():
    spec = ArithmeticSpec.build(concepts={"a": [1, "s2"]}, queries={"seven": 7, "b": "Male"},
                                expression="a + seven", expect="7")
    assert spec.queries["seven"].text == "7"  # YAML's `seven: 7` is the class 7
    assert list(spec.used_queries) == ["seven"] and spec.needs_classifier
    assert [e.label for e in spec.used_exemplars()] == ["1", "s2"]
    plain = ArithmeticSpec.build(concepts={"a": [1]}, queries=None, expression="a")
    assert not plain.needs_classifier
    assert parse_query_option("man=Male & !Eyeglasses")[1].text == "Male & !Eyeglasses"
    with pytest.raises(LatentSpecError, match="expected NAME=QUERY"):
        parse_query_option("Male & !Eyeglasses")


def test_figures_too_large_to_draw_are_refused_before_drawing():
    with pytest.raises(ValueError, match=r"\d+ x \d+ pixels, more than ganlab draws"):
        ArithmeticLayout.plan(row_labels=["a"] * 32, columns=16, neighbours=64,
                              image_size=(1024, 1024))
    spec = ArithmeticSpec.build(concepts={f"c{i}": [1] * 16 for i in range(32)}, queries=None,
                                expression=" + ".join(f"c{i}" for i in range(32)),
                                neighbours=64)
    spec.check_figure((64, 64, 3))  # the largest spec fits at 64 px ...
    with pytest.raises(ValueError, match="more than ganlab draws"):
        spec.check_figure((512, 512, 3))  # ... not at 512
