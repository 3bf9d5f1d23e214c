"""The book's machinery: everything that turns chapters into a checked, rendered book.

``build`` (execute chapters, derive bands, write the scorecard page), ``notebook`` (what a chapter's
notebook calls), ``claims`` (the scorecard, bands and verdicts), ``audit`` (consistency checks of a
paper's numbers), ``plotting``, ``profiles`` (settings and deviations), ``chapters`` (the chapter
registry), ``pagecheck`` and ``browser`` (checks of the rendered pages). It imports the shared
floors, and reaches a chapter only through the registry's names.
"""
