/**
 * The API's types, taken from the generated OpenAPI types (src/api/schema.d.ts, made from
 * ../openapi.json by `npm run gen:api`). A field the back-end renames or drops breaks `tsc`, not the page.
 */
import type { components } from "./schema";

type Schemas = components["schemas"];

export type Prediction = Schemas["Prediction"];
export type Segment = Schemas["Segment"];
export type Modalities = Schemas["Modalities"];
export type ModelInfo = Schemas["ModelInfo"];
export type ServiceInfo = Schemas["ServiceInfo"];
export type Limits = Schemas["Limits"];
export type Timing = Schemas["Timing"];
export type ErrorBody = Schemas["ErrorResponse"];
