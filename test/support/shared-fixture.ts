export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** One real captured vendor delivery from ../shared/fixtures, as handed to the workerd tests. */
export type SharedFixture = { file: string; source: "aircall" | "guesty" | "rocketchat"; name: string; body: JsonValue };
