@actor:repository
Feature: Who may store, fetch and withdraw a document
  Facilities of the community upload under their own identity; a receiving hospital needs
  nothing but the token. The uploader may withdraw its document, may cap how often it is
  downloaded, and the repository keeps an account of every access.

  @CPDI-AUTH-01 @option:core @required
  Scenario: A facility the community does not know cannot upload
    Given an encrypted transfer of 2 MB
    And the uploading facility is not registered with the community
    When the sending hospital uploads the transfer to the repository
    Then the repository refuses the upload
    And the repository reveals no document

  @CPDI-AUTH-01 @option:core @required
  Scenario: A receiving hospital needs nothing but the token
    Given the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    When a hospital the repository has never seen downloads the document named in the token
    Then the download is the ciphertext as it was uploaded, byte for byte

  @CPDI-DL-01 @option:core @required
  Scenario: Only the uploader can revoke a document
    Given the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    When another facility of the community revokes the document
    Then the repository refuses the revocation
    And the download is the ciphertext as it was uploaded, byte for byte

  @CPDI-DL-01 @option:download-limit @required
  Scenario Outline: A document limited to <limit> downloads is served <limit> times
    Given the sending hospital limits each document to <limit> downloads
    And the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    When the receiving hospital downloads the document named in the token <attempts> times
    Then the first <limit> downloads succeed and the rest are refused

    Examples: limits
      | limit | attempts |
      | 1     | 2        |
      | 3     | 5        |

  @CPDI-DL-01 @option:core @required
  Scenario: Every access is recorded in the access log
    Given the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    When the receiving hospital downloads the document named in the token
    And someone asks the repository for "a document ID that was never issued"
    Then the access log records every request with its time, its outcome and its size
    And the access log reveals no secret and no credential
