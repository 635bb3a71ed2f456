"""The Harvard sentences, lists 1–5: phonetically balanced English for intelligibility tests.

Source: IEEE Subcommittee on Subjective Measurements, "IEEE Recommended Practice for Speech
Quality Measurements", IEEE Transactions on Audio and Electroacoustics AU-17(3):225–246, 1969
(72 lists of 10 sentences, in the public domain). Each list uses English phonemes in
about their frequency in everyday speech, so a handful of sentences already covers most sounds.
"""

from __future__ import annotations

HARVARD_SENTENCES: tuple[str, ...] = (
    # List 1
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    # List 2
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    # List 3
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
    # List 4
    "Hoist the load to your left shoulder.",
    "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.",
    "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.",
    "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.",
    "The young girl gave no clear response.",
    "The meal was cooked before the bell rang.",
    "What joy there is in living.",
    # List 5
    "A king ruled the state in the early days.",
    "The ship was torn apart on the sharp reef.",
    "Sickness kept him home the third week.",
    "The wide road shimmered in the hot sun.",
    "The lazy cow lay in the cool grass.",
    "Lift the square stone over the fence.",
    "The rope will bind the seven books at once.",
    "Hop over the fence and plunge in.",
    "The friendly gang left the drug store.",
    "Mesh wire keeps chicks inside.",
)
SENTENCES_PER_LIST = 10


def harvard_list(number: int) -> tuple[str, ...]:
    """The ten sentences of Harvard list ``number`` (1–5 here)."""
    lists = len(HARVARD_SENTENCES) // SENTENCES_PER_LIST
    if not 1 <= number <= lists:
        raise ValueError(f"Harvard list {number} is not included; lists 1 to {lists} are.")
    start = (number - 1) * SENTENCES_PER_LIST
    return HARVARD_SENTENCES[start : start + SENTENCES_PER_LIST]
