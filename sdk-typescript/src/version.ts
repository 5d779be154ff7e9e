/** The version of this package; equal to the engine's version it was released with. */
export const VERSION = "0.1.0";
