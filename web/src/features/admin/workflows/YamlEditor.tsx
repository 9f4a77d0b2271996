// The YAML editor: CodeMirror 6 with YAML highlighting, line numbers, undo,
// and the server's problems as diagnostics (underlined, with a mark in the
// gutter). Loaded only with the workflow editor. Tab is left to the browser
// so the keyboard can leave the editor.
import { forwardRef, useEffect, useImperativeHandle, useRef } from "react";
import { EditorState } from "@codemirror/state";
import { EditorView, drawSelection, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { HighlightStyle, bracketMatching, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { lintGutter, setDiagnostics, type Diagnostic } from "@codemirror/lint";
import { yaml } from "@codemirror/lang-yaml";
import { tags } from "@lezer/highlight";

// Darker than CodeMirror's defaults: every colour is above 4.5:1 on white.
const highlight = HighlightStyle.define([
  { tag: [tags.propertyName, tags.definition(tags.propertyName)], color: "#1a4d8f" },
  { tag: [tags.string, tags.special(tags.string)], color: "#8a1c1c" },
  { tag: [tags.number, tags.bool, tags.null, tags.atom], color: "#5b2a86" },
  { tag: tags.comment, color: "#5c5f66", fontStyle: "italic" },
  { tag: [tags.keyword, tags.meta, tags.typeName, tags.labelName], color: "#6b3a00" },
  { tag: [tags.punctuation, tags.separator, tags.squareBracket, tags.brace], color: "#3d4146" },
]);

const theme = EditorView.theme({
  "&": { fontSize: "13px", border: "1px solid var(--mantine-color-gray-5)", borderRadius: "6px", backgroundColor: "#fff" },
  "&.cm-focused": { outline: "2px solid var(--mantine-color-blue-8)", outlineOffset: "1px" },
  ".cm-content": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace", color: "#1a1b1e" },
  // no height cap: the editor grows with its text (lines wrap), so it is
  // never a scrolling box of its own that the keyboard could not reach
  ".cm-scroller": { minHeight: "320px" },
  ".cm-gutters": { backgroundColor: "#f1f3f5", color: "#495057", borderRight: "1px solid #dee2e6" },
  ".cm-activeLine": { backgroundColor: "#f4f8fd" },
  ".cm-activeLineGutter": { backgroundColor: "#e3ecf8", color: "#1a1b1e" },
});

export interface EditorProblem {
  from: number;
  to: number;
  message: string;
}

export interface YamlEditorHandle {
  /** Moves the cursor to a line (1-based) and focuses the editor. */
  goToLine(line: number): void;
  /** Replaces the whole text (loading a version). */
  setText(text: string): void;
}

interface Props {
  initial: string;
  label: string;
  problems: EditorProblem[];
  onChange(text: string): void;
}

const YamlEditor = forwardRef<YamlEditorHandle, Props>(function YamlEditor({ initial, label, problems, onChange }, ref) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const changed = useRef(onChange);
  changed.current = onChange;

  useEffect(() => {
    const v = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: initial,
        extensions: [
          lineNumbers(),
          highlightActiveLineGutter(),
          highlightActiveLine(),
          drawSelection(),
          history(),
          indentOnInput(),
          bracketMatching(),
          yaml(),
          syntaxHighlighting(highlight),
          lintGutter(),
          keymap.of([...defaultKeymap, ...historyKeymap]),
          EditorState.tabSize.of(2),
          EditorView.lineWrapping,
          theme,
          EditorView.contentAttributes.of({ "aria-label": label, "data-testid": "workflow-source" }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) changed.current(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
    // the editor is made once; later text comes through setText
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const len = v.state.doc.length;
    const diagnostics: Diagnostic[] = problems.map((p) => ({
      from: Math.min(p.from, len),
      to: Math.min(Math.max(p.to, p.from), len),
      severity: "error",
      message: p.message,
    }));
    v.dispatch(setDiagnostics(v.state, diagnostics));
  }, [problems]);

  useImperativeHandle(ref, () => ({
    goToLine(line: number) {
      const v = view.current;
      if (!v) return;
      const l = v.state.doc.line(Math.max(1, Math.min(line, v.state.doc.lines)));
      v.dispatch({ selection: { anchor: l.from }, scrollIntoView: true });
      v.focus();
    },
    setText(text: string) {
      const v = view.current;
      if (!v) return;
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: text } });
    },
  }));

  return <div ref={host} />;
});

export default YamlEditor;
