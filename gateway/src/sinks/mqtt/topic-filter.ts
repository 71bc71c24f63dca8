/**
 * MQTT topic-filter algebra (PURE): does a filter match a topic, and can two filters match a
 * common topic. The ACL is built on these two questions.
 * MQTT rules honoured: `+` is one level, `#` is the rest including the parent level itself
 * (`a/#` matches `a`), and wildcards at the first level never match topics starting with `$`.
 */

export function isValidFilter(filter: string): boolean {
  if (filter.length === 0 || filter.includes('\u0000')) return false;
  const levels = filter.split('/');
  return levels.every((l, i) => (l.includes('#') ? l === '#' && i === levels.length - 1 : !l.includes('+') || l === '+'));
}

export function isValidTopic(topic: string): boolean {
  return topic.length > 0 && !/[#+\u0000]/.test(topic);
}

/** Does `filter` match the concrete `topic`? */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    const fl = f[i]!;
    if (fl === '#') return true;
    if (i >= t.length) return false;
    if (fl !== '+' && fl !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Is there at least one topic that both filters match? */
export function filtersOverlap(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  // A `$` topic is only reachable through a literal first level.
  const dollar = (first: string | undefined) => first !== undefined && first.startsWith('$');
  if ((dollar(x[0]) && (y[0] === '+' || y[0] === '#')) || (dollar(y[0]) && (x[0] === '+' || x[0] === '#'))) return false;
  const n = Math.max(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const xl = x[i];
    const yl = y[i];
    if (xl === '#' || yl === '#') return true;
    // One filter ended without a `#` in the other at this level: they differ in depth.
    if (xl === undefined || yl === undefined) return false;
    if (xl !== '+' && yl !== '+' && xl !== yl) return false;
  }
  return true;
}
