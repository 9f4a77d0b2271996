// A Textarea that grows with its text, measured only when the text changes.
//
// Mantine's `autosize` (react-textarea-autosize) measures in a layout effect
// on every render: getComputedStyle, then scrollHeight of a hidden copy, a
// forced style and layout pass of the whole page for each textarea each time
// the screen re-renders (a refetch, a live event, a clock tick above it). On
// the request and inbox screens, with a form per item, that was the largest
// forced reflow of the first load (Lighthouse "forced reflow"; bench/README.md).
// Here the empty box is `minRows` lines by the browser itself (the `rows`
// attribute, no measuring), and the height is fitted after the value changed.
import { forwardRef, useLayoutEffect, useRef } from "react";
import { Textarea, type TextareaProps } from "@mantine/core";
import { useMergedRef } from "@mantine/hooks";

export interface AutoTextareaProps extends Omit<TextareaProps, "autosize" | "rows" | "value"> {
  value: string;
  minRows?: number;
  /** Lines it grows to before it scrolls (unset: no limit). */
  maxRows?: number;
}

/** Fits the box to its text: `rows` lines at least, `maxRows` lines at most. */
function fit(el: HTMLTextAreaElement, maxRows: number | undefined): void {
  el.style.height = ""; // back to `rows` lines, so that it can shrink
  if (el.scrollHeight <= el.clientHeight) return; // fits: nothing to set
  const border = el.offsetHeight - el.clientHeight;
  let height = el.scrollHeight + border;
  if (maxRows) {
    const cs = getComputedStyle(el);
    const line = parseFloat(cs.lineHeight);
    const padding = parseFloat(cs.paddingTop) + parseFloat(cs.paddingBottom);
    if (line > 0) height = Math.min(height, line * maxRows + padding + border);
  }
  el.style.height = `${height}px`;
}

export const AutoTextarea = forwardRef<HTMLTextAreaElement, AutoTextareaProps>(function AutoTextarea(
  { value, minRows = 1, maxRows, ...rest },
  ref,
) {
  const own = useRef<HTMLTextAreaElement>(null);
  const merged = useMergedRef(own, ref);
  useLayoutEffect(() => {
    const el = own.current;
    // empty and never grown: the `rows` lines are right, no layout is read
    if (el && (value || el.style.height)) fit(el, maxRows);
  }, [value, maxRows]);
  return <Textarea {...rest} ref={merged} rows={minRows} value={value} />;
});
