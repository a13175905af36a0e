"""WordNet 3.0 relations between ImageNet classes, through the bundled wn data."""

from __future__ import annotations

import threading

import pytest

from services import wordnet

LAPTOP = 620
NOTEBOOK = 681
NORFOLK_TERRIER = 185
NORWICH_TERRIER = 186
MONITOR = 664
DESKTOP_COMPUTER = 527


def test_every_class_resolves_to_its_synset() -> None:
    unresolved = []
    for class_index in range(wordnet.NUM_CLASSES):
        wnid = wordnet.class_wnid(class_index)
        synset = wordnet.load_wordnet().synset(wordnet.class_synset_name(class_index))
        if f"{synset.pos()}{synset.offset():08d}" != wnid:
            unresolved.append((class_index, wnid, synset.name()))
    assert unresolved == [], (
        f"classes whose synset has another WordNet id: {unresolved}"
    )


def test_class_wnid_first_class() -> None:
    assert wordnet.class_wnid(0) == "n01440764"


def test_class_synset_name_first_class() -> None:
    assert wordnet.class_synset_name(0) == "tench.n.01"


@pytest.mark.parametrize("class_index", [-1, 1000])
def test_class_wnid_out_of_range(class_index: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        wordnet.class_wnid(class_index)


def test_wordnet_version_is_3_0() -> None:
    assert wordnet.load_wordnet().version() == "3.0"


def test_load_wordnet_concurrent_calls_share_instance() -> None:
    instances = []

    def load() -> None:
        instances.append(wordnet.load_wordnet())

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(instance) for instance in instances}) == 1


def test_laptop_and_notebook_are_siblings() -> None:
    relation = wordnet.relate_classes(LAPTOP, NOTEBOOK)
    assert relation.distance == 2
    assert relation.lowest_common_hypernym == "portable_computer.n.01"
    assert relation.lch_depth == 11
    assert relation.is_ancestor is False


def test_terrier_breeds_share_terrier() -> None:
    relation = wordnet.relate_classes(NORFOLK_TERRIER, NORWICH_TERRIER)
    assert relation.distance == 2
    assert relation.lowest_common_hypernym == "terrier.n.01"


def test_monitor_and_desktop_computer_are_far() -> None:
    relation = wordnet.relate_classes(MONITOR, DESKTOP_COMPUTER)
    assert relation.distance == 9
    assert relation.lowest_common_hypernym == "instrumentality.n.03"
    assert relation.lch_depth == 5


def test_relate_classes_is_symmetric() -> None:
    forward = wordnet.relate_classes(MONITOR, NOTEBOOK)
    backward = wordnet.relate_classes(NOTEBOOK, MONITOR)
    assert forward == backward


def test_relate_classes_same_class() -> None:
    relation = wordnet.relate_classes(LAPTOP, LAPTOP)
    assert relation.distance == 0
    assert relation.lowest_common_hypernym == "laptop.n.01"
    assert relation.is_ancestor is False


def test_relate_synsets_hypernym_is_ancestor() -> None:
    relation = wordnet.relate_synsets("dog.n.01", "canine.n.02")
    assert relation.is_ancestor is True
    assert relation.distance == 1
    assert relation.lowest_common_hypernym == "canine.n.02"


def test_depth_uses_longest_path() -> None:
    # dog.n.01 is 8 edges from entity.n.01 through domestic_animal.n.01 but 13
    # through canine.n.02 (depth 12); the depth must stay below its hyponym's.
    dog = wordnet.relate_synsets("dog.n.01", "dog.n.01")
    canine = wordnet.relate_synsets("canine.n.02", "canine.n.02")
    assert dog.lch_depth == 13
    assert canine.lch_depth == 12


def test_root_has_depth_zero() -> None:
    relation = wordnet.relate_synsets("entity.n.01", "dog.n.01")
    assert relation.lch_depth == 0
