/** A minimal line chart on a canvas: one series, y from 0 to max(values, floor). */
export function drawLineChart(
  canvas: HTMLCanvasElement,
  points: { at: number; value: number | null }[],
  options: { spanMs: number; floor: number; color: string; unit: string },
): void {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  const styles = getComputedStyle(canvas);
  const ink = styles.color || '#888';
  const now = Date.now();
  const values = points.map((p) => p.value ?? 0);
  const max = Math.max(options.floor, ...values) * 1.1;
  const x = (at: number) => width - ((now - at) / options.spanMs) * width;
  const y = (value: number) => height - 14 - (value / max) * (height - 20);

  ctx.globalAlpha = 0.25;
  ctx.strokeStyle = ink;
  ctx.lineWidth = 1;
  for (const fraction of [0.5, 1]) {
    ctx.beginPath();
    ctx.moveTo(0, y((max * fraction) / 1.1));
    ctx.lineTo(width, y((max * fraction) / 1.1));
    ctx.stroke();
  }
  ctx.globalAlpha = 0.7;
  ctx.fillStyle = ink;
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillText(`${Math.round(max / 1.1)}${options.unit}`, 4, y(max / 1.1) - 2);
  ctx.fillText(`-${Math.round(options.spanMs / 60_000)} min`, 4, height - 2);

  ctx.globalAlpha = 1;
  ctx.strokeStyle = options.color;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  let started = false;
  for (const point of points) {
    if (point.value === null || now - point.at > options.spanMs) continue;
    const px = x(point.at);
    const py = y(point.value);
    if (started) ctx.lineTo(px, py);
    else ctx.moveTo(px, py);
    started = true;
  }
  ctx.stroke();
}
