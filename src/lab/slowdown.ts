// How many times slower than the host Node itself runs here: VXR_LAB_SLOWDOWN, set by `npm run arm64`
// for arm64 Node under qemu-user. The lab's bounded waits are multiplied by it; they are bounds, not
// speed assertions.
const value = Number(process.env.VXR_LAB_SLOWDOWN ?? 1);
if (!(value >= 1)) throw new Error(`VXR_LAB_SLOWDOWN must be a number ≥ 1, not "${process.env.VXR_LAB_SLOWDOWN}"`);

export const SLOWDOWN = value;
