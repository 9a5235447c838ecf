// A grouped bar chart as SVG: per metric, one bar per variant, each as its ratio to the first
// variant (the kernel path), so that 1.0 is the reference line. Plain SVG 1.1, no dependencies.
export interface ChartGroup {
  label: string;
  higherIsBetter: boolean;
  /** One ratio per series, in the order of the series names. */
  values: number[];
}

const COLORS = ['#4c78a8', '#f58518', '#72b7b2', '#eeca3b', '#54a24b', '#b279a2', '#e45756', '#9d755d'];
const CAP = 3; // ratios above are drawn at the cap, with their value written

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function renderChart(groups: ChartGroup[], series: string[]): string {
  const bar = 14;
  const gap = 18;
  const groupWidth = series.length * bar + gap;
  const left = 50;
  const top = 40;
  const height = 220;
  const width = left + groups.length * groupWidth + 20;
  const y = (r: number) => top + height - (Math.min(r, CAP) / CAP) * height;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top + height + 110}" font-family="sans-serif" font-size="10">`);
  parts.push(`<text x="${left}" y="16" font-size="13">Ratio to ${escape(series[0])} (1.0 = the same; arrows: which way is better)</text>`);
  for (const tick of [0, 0.5, 1, 1.5, 2, 2.5, 3]) {
    parts.push(`<line x1="${left - 4}" x2="${width - 10}" y1="${y(tick)}" y2="${y(tick)}" stroke="${tick === 1 ? '#333' : '#ddd'}"/>`);
    parts.push(`<text x="${left - 8}" y="${y(tick) + 3}" text-anchor="end">${tick.toFixed(1)}</text>`);
  }
  groups.forEach((g, gi) => {
    const x0 = left + gi * groupWidth + gap / 2;
    g.values.forEach((v, si) => {
      const r = Number.isFinite(v) ? v : 0;
      const x = x0 + si * bar;
      parts.push(`<rect x="${x}" y="${y(r)}" width="${bar - 2}" height="${top + height - y(r)}" fill="${COLORS[si % COLORS.length]}"><title>${escape(series[si])}: ${r.toFixed(2)}×</title></rect>`);
      if (r > CAP) parts.push(`<text x="${x + bar / 2}" y="${y(CAP) - 3}" text-anchor="middle">${r.toFixed(1)}</text>`);
    });
    const cx = x0 + (series.length * bar) / 2;
    parts.push(`<text transform="translate(${cx},${top + height + 12}) rotate(35)">${escape(g.label)} ${g.higherIsBetter ? '↑' : '↓'}</text>`);
  });
  series.forEach((s, si) => {
    const x = left + si * 90;
    parts.push(`<rect x="${x}" y="${top + height + 90}" width="10" height="10" fill="${COLORS[si % COLORS.length]}"/><text x="${x + 14}" y="${top + height + 99}">${escape(s)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
