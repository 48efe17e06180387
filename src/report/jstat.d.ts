// The one part of jstat (no bundled types) the report uses: Student's t quantile function.
declare module "jstat" {
  const jStat: {
    studentt: {
      /** Quantile: the x with P(T <= x) = p for T ~ t(dof). */
      inv(p: number, dof: number): number;
    };
  };
  export default jStat;
}
