import { ignored, type Normalization } from "../normalization";

export function normalizeGuesty(_type: string, _body: Record<string, unknown>): Normalization {
  return ignored;
}
