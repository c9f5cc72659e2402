{
  # The native GMP core of src/math (see native/addon.cc and src/math/native.ts).
  # Built by scripts/build-native.mjs (npm `install` script; `npm run build:native` is the strict form).
  # C++ exceptions stay disabled (node's common.gypi passes -fno-exceptions -fno-rtti), so the code
  # uses node-addon-api's NAPI_DISABLE_CPP_EXCEPTIONS mode and reports errors as pending JS exceptions.
  # libsecp256k1 (Debian libsecp256k1-dev) is optional: when scripts/probe-libsecp256k1.mjs can link
  # it, a second addon, mpc_secp256k1 (native/secp256k1.cc), is built; otherwise only mpc_math is
  # and src/primitives/secp256k1-backend.ts uses @noble/curves. A separate file on purpose: if
  # libsecp256k1.so is missing at run time only that addon fails to load, never the GMP core.
  "variables": {
    "have_libsecp256k1%": "<!(node scripts/probe-libsecp256k1.mjs)"
  },
  "targets": [
    {
      "target_name": "mpc_math",
      "sources": [
        "native/addon.cc",
        "native/bigint_io.cc",
        "native/multiexp.cc",
        "native/numtheory.cc",
        "native/powm.cc",
        "native/secure_mem.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NAPI_DISABLE_CPP_EXCEPTIONS"
      ],
      "cflags": [
        "-O3",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-fvisibility=hidden",
        "-U_FORTIFY_SOURCE",
        "-D_FORTIFY_SOURCE=2"
      ],
      "cflags_cc": [
        "-fvisibility-inlines-hidden"
      ],
      "libraries": [
        "-lgmp"
      ],
      "conditions": [
        [
          "OS=='mac'",
          {
            "include_dirs": ["/opt/homebrew/include", "/usr/local/include"],
            "libraries": ["-L/opt/homebrew/lib", "-L/usr/local/lib"],
            "xcode_settings": {
              "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
              "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
              "MACOSX_DEPLOYMENT_TARGET": "11.0",
              "OTHER_CFLAGS": [
                "-O3",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
                "-D_FORTIFY_SOURCE=2"
              ]
            }
          }
        ]
      ]
    }
  ],
  "conditions": [
    [
      "have_libsecp256k1=='true'",
      {
        "targets": [
          {
            "target_name": "mpc_secp256k1",
            "sources": ["native/secp256k1.cc"],
            "include_dirs": [
              "<!(node -p \"require('node-addon-api').include_dir\")"
            ],
            "defines": [
              "NAPI_VERSION=8",
              "NODE_ADDON_API_DISABLE_DEPRECATED",
              "NAPI_DISABLE_CPP_EXCEPTIONS"
            ],
            "cflags": ["-O3", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fvisibility=hidden"],
            "cflags_cc": ["-fvisibility-inlines-hidden"],
            "libraries": ["-lsecp256k1"],
            "conditions": [
              [
                "OS=='mac'",
                {
                  "include_dirs": ["/opt/homebrew/include", "/usr/local/include"],
                  "libraries": ["-L/opt/homebrew/lib", "-L/usr/local/lib"],
                  "xcode_settings": {
                    "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
                    "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
                    "MACOSX_DEPLOYMENT_TARGET": "11.0",
                    "OTHER_CFLAGS": ["-O3", "-Wall", "-Wextra", "-Werror", "-pedantic"]
                  }
                }
              ]
            ]
          }
        ]
      }
    ]
  ]
}
