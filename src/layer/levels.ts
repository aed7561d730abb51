// Compression levels: the defaults and the ranges each compressor takes. Kept apart from the
// compressors (no imports), so the CLI's settings can name them without loading zlib or workers.

/**
 * Level 1, as ko and go-containerregistry push by default, not gzip's own 6. Compression is most of a
 * cold build and of a big push: with node's zlib on one core, unpacked wheels (scipy, pandas,
 * scikit-learn, numpy) go at 116 MiB/s at level 1, 86 at 4, 48 at 6, for layers 7% and 11% larger
 * than at 4 and 6; text goes at 103, 69 and 21 MiB/s. Level 1 is the only one that brings a 1 GiB push
 * close to skopeo's pace (bench/). --compression-level 6 or 9 for smaller layers.
 */
export const DEFAULT_GZIP_LEVEL = 1;

/** Each compressor's levels: what resolveCompressor accepts and what it uses when none is given. */
export const COMPRESSION_LEVELS = {
  gzip: { min: 0, max: 9, default: DEFAULT_GZIP_LEVEL },
  zstd: { min: 1, max: 19, default: 3 },
} as const;

/** "gzip 0-9 (default 1), zstd 1-19 (default 3)", for help and errors. */
export const COMPRESSION_LEVELS_TEXT = Object.entries(COMPRESSION_LEVELS)
  .map(([name, l]) => `${name} ${l.min}-${l.max} (default ${l.default})`)
  .join(", ");
