# SPDX-License-Identifier: MIT
# test_proxy_guard counts the digests the server computes (the same work for an unknown user
# as for a wrong password): it wraps OpenSSL's EVP_DigestFinal_ex at link time.
if(TARGET test_proxy_guard)
  target_link_options(test_proxy_guard PRIVATE -Wl,--wrap=EVP_DigestFinal_ex)
endif()
