import { Health } from "./api/types";

export const h: Health = { status: "ok" };
