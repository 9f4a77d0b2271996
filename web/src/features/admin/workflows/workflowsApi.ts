// Workflow reads and the two YAML writes (validate, publish).
import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../../../api/client";
import type { components } from "../../../api/schema";

export type Workflow = components["schemas"]["Workflow"];

// The body is the YAML text as typed, sent as application/yaml.
const asYaml = {
  bodySerializer: (b: unknown) => b as string,
  headers: { "Content-Type": "application/yaml" },
};

export function validateWorkflow(text: string) {
  return unwrap(api.POST("/api/v1/workflows/validate", { body: text as never, ...asYaml }));
}

export function publishWorkflow(text: string) {
  return unwrap(api.POST("/api/v1/workflows", { body: text as never, ...asYaml }));
}

export function useWorkflows() {
  return useQuery({ queryKey: ["workflows"], queryFn: () => unwrap(api.GET("/api/v1/workflows")) });
}

export function useWorkflow(type: string | undefined) {
  return useQuery({
    queryKey: ["workflow", type],
    enabled: !!type,
    queryFn: () => unwrap(api.GET("/api/v1/workflows/{type}", { params: { path: { type: type! } } })),
  });
}

export function workflowVersionQuery(type: string, version: number) {
  return {
    queryKey: ["workflow", type, "version", version],
    staleTime: Infinity, // a version never changes
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workflows/{type}/versions/{version}", {
          params: { path: { type, version: String(version) as never } },
        }),
      ),
  };
}
