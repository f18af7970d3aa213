"""Pure statistical models (no I/O): series models, rarity models, score normalisation.

Every model follows the small contracts in :mod:`trailspike.models.base`.
"""
