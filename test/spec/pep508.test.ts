import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { checkRequirement, parseRequirement, RequirementSyntaxError } from "../../src/spec/pep508.js";

void describe("parseRequirement: valid PEP 508", () => {
  void it("reads name, extras, specifiers, URL and marker", () => {
    assert.deepEqual(parseRequirement("numpy"), { name: "numpy", extras: [], specifiers: [] });
    assert.deepEqual(parseRequirement("requests[security, socks] >=2.8.1, ==2.8.*; python_version < '3.13'"), {
      name: "requests",
      extras: ["security", "socks"],
      specifiers: [
        { operator: ">=", version: "2.8.1" },
        { operator: "==", version: "2.8.*" },
      ],
      marker: "python_version < '3.13'",
    });
    assert.deepEqual(parseRequirement("pip @ https://github.com/pypa/pip/archive/1.3.1.zip#sha1=da9234ee ; sys_platform == 'linux'"), {
      name: "pip",
      extras: [],
      specifiers: [],
      url: "https://github.com/pypa/pip/archive/1.3.1.zip#sha1=da9234ee",
      marker: "sys_platform == 'linux'",
    });
    assert.deepEqual(parseRequirement("name (>=1.0, <2)").specifiers, [
      { operator: ">=", version: "1.0" },
      { operator: "<", version: "2" },
    ]);
  });

  const valid = [
    "A",
    "A.B-C_D",
    "aa",
    "name<=1",
    "name>=3,<2",
    "name[quux, strange]; python_version<'2.7' and platform_version=='2'",
    "name; os_name=='a' or os_name=='b'",
    "name; os_name=='a' and (os_name=='b' or os_name=='c')",
    "name; 'linux' in sys_platform",
    "name; 'x' not in extras",
    "torch==2.3.0+cu121",
    "pkg===some-arbitrary-string",
    "pkg~=1.4.2",
    "pkg!=1.0.*",
    "pkg>=1.0.0rc1",
    "pkg>=2.0.post1.dev3",
    "pkg==1!2.0",
    "Django>=4.2,<5.0",
    "mypkg @ git+https://github.com/org/mypkg@v1.0",
    "mypkg @ file:///opt/wheels/mypkg-1.0-py3-none-any.whl",
    "  numpy  >=  1.26  ",
  ];
  for (const requirement of valid) {
    void it(JSON.stringify(requirement), () => {
      assert.equal(checkRequirement(requirement), undefined);
    });
  }
});

void describe("parseRequirement: invalid, with the reason", () => {
  const invalid: [string, RegExp][] = [
    ["", /it is empty/],
    ["numpy=>1.0", /"=>" is not a version operator; did you mean ">="\?/],
    ["numpy=<1.0", /did you mean "<="\?/],
    ["numpy=1.0", /"=" is not a version operator; did you mean "=="\?/],
    ["numpy~1.0", /did you mean "~="\?/],
    ["numpy 1.0", /expected a version operator .* before "1.0", e.g. numpy==1.0/],
    ["numpy>=", /expected a version after ">="/],
    ["numpy>=1.0,", /expected a version operator/],
    ["numpy>=banana", /"banana" is not a PEP 440 version/],
    ["numpy>=1.*", /wildcards like "1.\*" only work with == and !=/],
    ["numpy>1.0+local", /local version like "1.0\+local" only works with == and !=/],
    ["numpy~=1", /~= needs at least two release numbers/],
    ["numpy==1.0+", /is not a PEP 440 version/],
    ["numpy[", /expected an extra's name/],
    ["numpy[a b]", /expected ',' or '\]'/],
    ["numpy (>=1.0", /expected '\)'/],
    ["-e .", /pip options are not requirements/],
    ["--index-url https://x", /pip options are not requirements/],
    ["git+https://github.com/org/pkg", /needs the package name in front: write name @ url/],
    ["./local/pkg", /needs the package name in front/],
    ["pkg @ notaurl", /"notaurl" is not a URL/],
    ["pkg @ https://x.org/p.whl; os_name=='a'", /needs white space before the ';'/],
    ["numpy; sys_platfrom == 'linux'", /"sys_platfrom" is not a marker variable; did you mean "sys_platform"\?/],
    ["numpy; sys_platform == linux", /"linux" is not a marker variable; if it is a value, quote it: 'linux'/],
    ["numpy; sys_platform = 'linux'", /expected a comparison/],
    ["numpy; (os_name == 'a'", /expected '\)' in the marker/],
    ["numpy;", /expected a marker after ';'/],
    ["numpy; os_name == 'a", /unterminated string/],
    ["numpy>=1.0 extra", /unexpected "extra"/],
    ["_bad", /expected a package name/],
  ];
  for (const [requirement, problem] of invalid) {
    void it(JSON.stringify(requirement), () => {
      assert.match(checkRequirement(requirement) ?? "(accepted)", problem);
    });
  }

  void it("reports the column where reading stopped", () => {
    assert.throws(
      () => parseRequirement("numpy>=1.0 !!"),
      (error: unknown) => error instanceof RequirementSyntaxError && error.column === 12,
    );
  });
});
