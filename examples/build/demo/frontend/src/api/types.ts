export interface Health {
  status: string;
}
