// The app's one paged table: a cursor list (api/lists.ts) as a table in a
// scrollable, keyboard-focusable frame, a status while the first page
// loads, the error in words, a status line when nothing matches, and a
// "Show more" button while the server has more.
import { Fragment, type ReactNode } from "react";
import { Button, Center, Paper, Table, Text, type TableProps, type TableTrProps } from "@mantine/core";
import type { CursorList } from "../api/lists";
import { Loading } from "./Loading";
import { QueryError } from "./errors";

/** A column: its header and its cell of an item; `visibleFrom` hides it on narrower screens. */
export interface Column<T> {
  header: string;
  cell: (item: T) => ReactNode;
  visibleFrom?: "xs" | "sm" | "md" | "lg";
}

interface Common<T> {
  list: CursorList<T>;
  /** What the rows are, for the loading status and the error: "the users", "your requests". */
  what: string;
  rowKey: (item: T) => string;
  /** Said (as a status) when the list is empty. */
  empty: ReactNode;
  /** The table's minimum width: narrower screens scroll the frame sideways. */
  minWidth: number;
  testId?: string;
  /** The button's words; "Show more" by default. */
  more?: string;
  tableProps?: Omit<TableProps, "miw">;
}

/** Rows made of columns (rowProps: the row's own attributes), or rows a component draws (headers + row). */
export type CursorTableProps<T> = Common<T> &
  (
    | { columns: Column<T>[]; rowProps?: (item: T) => TableTrProps & Record<`data-${string}`, string> }
    | { headers: string[]; row: (item: T) => ReactNode }
  );

function Rows<T>(props: CursorTableProps<T>) {
  if ("row" in props) return <>{props.list.items.map((item) => <Fragment key={props.rowKey(item)}>{props.row(item)}</Fragment>)}</>;
  const { columns, rowProps, rowKey, list } = props;
  return (
    <>
      {list.items.map((item) => (
        <Table.Tr key={rowKey(item)} {...rowProps?.(item)}>
          {columns.map((c) => (
            <Table.Td key={c.header} visibleFrom={c.visibleFrom}>
              {c.cell(item)}
            </Table.Td>
          ))}
        </Table.Tr>
      ))}
    </>
  );
}

export function CursorTable<T>(props: CursorTableProps<T>) {
  const { list, what, empty, minWidth, testId, more, tableProps } = props;
  const headers = "columns" in props ? props.columns.map((c) => ({ text: c.header, from: c.visibleFrom })) : props.headers.map((text) => ({ text, from: undefined }));
  return (
    <>
      {list.isError && <QueryError error={list.error} what={what} />}
      {list.isPending ? (
        <Loading label={`Loading ${what}`} />
      ) : list.items.length === 0 ? (
        <Text role="status">{empty}</Text>
      ) : (
        <Paper withBorder style={{ overflowX: "auto" }} tabIndex={0}>
          <Table miw={minWidth} data-testid={testId} {...tableProps}>
            <Table.Thead>
              <Table.Tr>
                {headers.map((h) => (
                  <Table.Th key={h.text} visibleFrom={h.from}>
                    {h.text}
                  </Table.Th>
                ))}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              <Rows {...props} />
            </Table.Tbody>
          </Table>
        </Paper>
      )}
      {list.hasNextPage && (
        <Center>
          <Button variant="default" onClick={() => void list.fetchNextPage()} loading={list.isFetchingNextPage}>
            {more ?? "Show more"}
          </Button>
        </Center>
      )}
    </>
  );
}
